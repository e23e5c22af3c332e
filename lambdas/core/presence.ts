import type { ServerFrame } from '@trainer-chat/protocol'
import type { ConversationAudience, Delivery, Departures, ForgetOptions, Log, Outgoing } from './ports.ts'

/**
 * Presence (#13): who hears that a user came online, went offline or left a conversation when
 * their connections went away. The store decides who (in the statement that registered or
 * deleted the connections); this module turns its report into frames and posts them.
 */

export interface PresencePorts {
  store: { forgetConnections(connectionIds: readonly string[], options?: ForgetOptions): Promise<Departures> }
  delivery: Delivery<ServerFrame>
  log: Log
}

/** `presence` online to the other participant's connections of each conversation. */
export function onlineFrames(userId: string, audiences: readonly ConversationAudience[]): Outgoing<ServerFrame>[] {
  return audiences.flatMap(({ conversationId, connectionIds }) =>
    connectionIds.map((connectionId) => ({
      connectionId,
      frame: { type: 'presence', conversationId, userId, online: true, lastSeenAt: null } satisfies ServerFrame,
    })),
  )
}

/** `presence` offline and `userLeft` for connections that went away. */
export function departureFrames(departures: Departures): Outgoing<ServerFrame>[] {
  const left = departures.left.flatMap(({ userId, conversationId, connectionIds }) =>
    connectionIds.map((connectionId) => ({ connectionId, frame: { type: 'userLeft', conversationId, userId } satisfies ServerFrame })),
  )
  const offline = departures.offline.flatMap(({ userId, lastSeenAt, audiences }) =>
    audiences.flatMap(({ conversationId, connectionIds }) =>
      connectionIds.map((connectionId) => ({
        connectionId,
        frame: { type: 'presence', conversationId, userId, online: false, lastSeenAt } satisfies ServerFrame,
      })),
    ),
  )
  return [...left, ...offline]
}

export interface AnnounceOptions {
  /** Epoch milliseconds by which posts must be over. */
  deadline?: number | undefined
  /** A connection inside its own $connect, never posted to (API Gateway would answer 410). */
  connecting?: string | undefined
}

/**
 * Posts presence frames. A 410 here does not delete the row: API Gateway also answers 410 for a
 * connection that is still inside its own `$connect` (its row is written, its handshake not yet
 * over), and presence goes out exactly when users connect. A row that is really gone is removed
 * by the next fan-out of a message, or reclaimed by `$connect` (GetConnection).
 */
export async function postPresence(ports: Omit<PresencePorts, 'store'>, outgoing: Outgoing<ServerFrame>[], options: AnnounceOptions = {}): Promise<void> {
  const posts = outgoing.filter((o) => o.connectionId !== options.connecting)
  if (posts.length === 0) return
  const report = await ports.delivery.post(posts, { deadline: options.deadline })
  if (report.failed.length > 0) ports.log.warn('presence delivery failed for some connections', { failed: report.failed })
}

/** Posts the frames that departures call for (userLeft, presence offline). */
export async function announceDepartures(ports: PresencePorts, departures: Departures, options: AnnounceOptions = {}): Promise<void> {
  await postPresence(ports, departureFrames(departures), options)
}

/** Removes connection rows API Gateway reported gone and tells the other participants. */
export async function forgetGone(ports: PresencePorts, gone: readonly string[], options: AnnounceOptions = {}): Promise<void> {
  if (gone.length === 0) return
  await announceDepartures(ports, await ports.store.forgetConnections(gone, { establishedOnly: true }), options)
}
