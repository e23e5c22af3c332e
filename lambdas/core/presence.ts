import type { ConversationAudience, Delivery, Departures, Log, Outgoing } from './ports.ts'
import type { ServerFrame } from './protocol.ts'

/**
 * Presence (#13): who hears that a user came online, went offline or left a conversation when
 * their connections went away. The store decides who (in the statement that registered or
 * deleted the connections); this module turns its report into frames and posts them.
 */

export interface PresencePorts {
  store: { forgetConnections(connectionIds: readonly string[]): Promise<Departures> }
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

/** Rounds of "post the departures, forget the connections that answered 410, announce those": bounded, each round deletes rows. */
const MAX_ROUNDS = 3

export interface AnnounceOptions {
  /** Epoch milliseconds by which posts must be over. */
  deadline?: number | undefined
  /**
   * A connection inside its own $connect: API Gateway refuses posts to it until the handshake is
   * over (410), which would wrongly delete the row just registered.
   */
  connecting?: string | undefined
}

/**
 * Posts the frames that departures call for. Connections found gone meanwhile are forgotten in
 * turn, and their own departures announced, a bounded number of rounds.
 */
export async function announceDepartures(ports: PresencePorts, departures: Departures, options: AnnounceOptions = {}): Promise<void> {
  const { deadline, connecting } = options
  let pending = departures
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const outgoing = departureFrames(pending).filter((o) => o.connectionId !== connecting)
    if (outgoing.length === 0) return
    const report = await ports.delivery.post(outgoing, { deadline })
    if (report.failed.length > 0) ports.log.warn('presence delivery failed for some connections', { failed: report.failed })
    if (report.gone.length === 0) return
    pending = await ports.store.forgetConnections(report.gone)
  }
}

/** Removes connection rows API Gateway reported gone and tells the other participants. */
export async function forgetGone(ports: PresencePorts, gone: readonly string[], options: AnnounceOptions = {}): Promise<void> {
  if (gone.length === 0) return
  await announceDepartures(ports, await ports.store.forgetConnections(gone), options)
}
