import { HISTORY_DEFAULT_LIMIT, type ServerFrame } from '@trainer-chat/protocol'
import { signMessages } from './attachments.ts'
import { ChatError } from './errors.ts'
import { historyFrame } from './history-page.ts'
import { initialRole, type Identity, type Listener } from './model.ts'
import type { Access, Allowed, AttachmentStorage, ChatStore, Counter, Delivery, Log, Outgoing, Verdict } from './ports.ts'
import { announceDepartures, forgetGone, onlineFrames, postPresence } from './presence.ts'
import type { Throttle } from './throttle.ts'

/**
 * The chat use cases but sendMessage (send-message.ts). Each takes its ports, asks the store once
 * (the store authorizes and acts in a single statement and reports a verdict), turns a refusal
 * into a ChatError, and fans the result out. Nothing here knows about AWS, SQL or the wire format
 * of events.
 */

export interface ChatPorts {
  store: ChatStore
  delivery: Delivery<ServerFrame>
  log: Log
  metrics: Counter
}

export interface TypingPorts extends ChatPorts {
  /** Per-connection limit on typing frames; beyond it they are dropped without touching the database. */
  typingThrottle: Throttle
}

export interface JoinPorts extends ChatPorts {
  /** Signs the download URLs of the history's attachments. */
  storage: AttachmentStorage
}

export interface Caller {
  connectionId: string
  requestId?: string | undefined
  /**
   * Called once the action has taken effect and its answer (the acknowledgement, the history) is
   * on its way: from then on a failure is logged and counted, never reported to the caller, so a
   * request never gets an answer and then an error.
   */
  answered?: (() => void) | undefined
  /** Epoch milliseconds by which fan-out must be over (posts still running then are dropped). */
  deadline?: number | undefined
}

/** Maps a verdict to the refusal the caller sees. Reads are allowed on closed conversations. */
export function assertAccess(verdict: Verdict, intent: 'read' | 'write'): void {
  const refusal = refusalOf(verdict, intent)
  if (refusal) throw refusal
}

/** Narrows a statement's report to the participant's, or throws the refusal the caller sees. */
export function assertAllowed<T>(result: Access<T>, intent: 'read' | 'write'): asserts result is Allowed<T> {
  assertAccess(result.verdict, intent)
}

function refusalOf(verdict: Verdict, intent: 'read' | 'write'): ChatError | undefined {
  switch (verdict) {
    case 'ok':
      return undefined
    case 'closed':
      return intent === 'read' ? undefined : new ChatError('conversation_closed', 'This conversation is closed; it is read-only')
    case 'not_found':
      return new ChatError('not_found', 'Conversation not found')
    case 'forbidden':
      return new ChatError('forbidden', 'You are not a participant in this conversation')
    case 'unauthorized':
      return new ChatError('unauthorized', 'Your session has expired or was revoked; reconnect with a fresh token')
  }
}

/**
 * Posts the frames, bounded by the caller's deadline; connections API Gateway reports gone (410)
 * lose their rows, other failures and posts dropped at the deadline are logged with their count.
 */
export async function deliver(ports: ChatPorts, outgoing: Outgoing<ServerFrame>[], caller?: Caller): Promise<void> {
  const report = await ports.delivery.post(outgoing, { deadline: caller?.deadline })
  ports.metrics.count('fanOutPosts', outgoing.length)
  if (report.failed.length > 0) ports.log.warn('delivery failed for some connections', { failed: report.failed })
  if (report.late && report.late.length > 0) {
    ports.log.warn('fan-out ran past its deadline; frames dropped', { lateCount: report.late.length, late: report.late })
  }
  if (report.gone.length > 0) {
    ports.metrics.count('connectionsGone', report.gone.length)
    // The other participants hear userLeft / presence for them (#13).
    await forgetGone(ports, report.gone, { deadline: caller?.deadline })
  }
}

/**
 * Refuses an action the user's per-user limit stopped (#11 item 13); nothing was done. Typing is
 * not refused but dropped (see typing).
 */
function assertWithinLimit(result: { retryAfterMs?: number | undefined }, what: string): void {
  if (result.retryAfterMs === undefined) return
  throw new ChatError('rate_limited', `Too many ${what} requests; retry later`, { retryAfterMs: result.retryAfterMs })
}

export function toOthers(listeners: Listener[], caller: Caller, frame: ServerFrame): Outgoing<ServerFrame>[] {
  return listeners
    .filter((listener) => listener.connectionId !== caller.connectionId)
    .map((listener) => ({ connectionId: listener.connectionId, frame }))
}

export async function typing(
  ports: TypingPorts,
  caller: Caller,
  input: { conversationId: string; isTyping: boolean },
): Promise<void> {
  // A typing indicator is worth nothing late or twice: excess frames are dropped silently
  // (only a requestId gets its `ok`), so a chatty or hostile client costs no database round trip.
  if (!ports.typingThrottle.allow(caller.connectionId)) {
    await deliver(ports, okFor(caller))
    return
  }
  const result = await ports.store.typing({ connectionId: caller.connectionId, conversationId: input.conversationId })
  assertAllowed(result, 'write')
  caller.answered?.()
  // Over the user's limit (all their connections together): dropped like the in-memory excess.
  if (result.retryAfterMs !== undefined) {
    await deliver(ports, okFor(caller))
    return
  }
  const frame: ServerFrame = {
    type: 'userTyping',
    conversationId: input.conversationId,
    userId: result.userId,
    isTyping: input.isTyping,
  }
  await deliver(ports, [...okFor(caller), ...toOthers(result.listeners, caller, frame)], caller)
}

export async function markAsRead(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string; messageId: string },
): Promise<void> {
  const result = await ports.store.markAsRead({ connectionId: caller.connectionId, ...input })
  assertAllowed(result, 'read')
  assertWithinLimit(result, 'markAsRead')
  if (!result.messageFound) throw new ChatError('not_found', 'Message not found in this conversation')
  caller.answered?.()
  if (result.markedCount === 0) {
    await deliver(ports, okFor(caller))
    return
  }
  const frame: ServerFrame = {
    type: 'messageRead',
    conversationId: input.conversationId,
    messageId: input.messageId,
    userId: result.userId,
    readAt: result.readAt,
  }
  await deliver(ports, [...okFor(caller), ...toOthers(result.listeners, caller, frame)], caller)
}

export async function joinConversation(
  ports: JoinPorts,
  caller: Caller,
  input: { conversationId: string; limit?: number | undefined; afterSeq?: number | undefined },
): Promise<void> {
  const result = await ports.store.joinConversation({
    connectionId: caller.connectionId,
    conversationId: input.conversationId,
    limit: input.limit ?? HISTORY_DEFAULT_LIMIT,
    ...(input.afterSeq === undefined ? {} : { afterSeq: input.afterSeq }),
  })
  assertAllowed(result, 'read')
  assertWithinLimit(result, 'joinConversation and leaveConversation')
  // The statement already bounded the page by bytes; the frame is measured once more as sent
  // (history-page.ts), so nothing it carries can take it past API Gateway's 128 KB.
  const { frame: history, dropped } = historyFrame(
    {
      conversationId: input.conversationId,
      messages: await signMessages(ports.storage, result.messages),
      hasMore: result.hasMore,
      ...echo(caller),
    },
    input.afterSeq === undefined ? 'newest' : 'oldest',
  )
  if (dropped > 0) ports.log.warn('history page trimmed to the frame limit', { conversationId: input.conversationId, dropped })
  const joined: ServerFrame = { type: 'userJoined', conversationId: input.conversationId, userId: result.userId }
  caller.answered?.()
  await deliver(ports, [{ connectionId: caller.connectionId, frame: history }, ...toOthers(result.listeners, caller, joined)], caller)
}

export async function leaveConversation(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string },
): Promise<void> {
  const result = await ports.store.leaveConversation({ connectionId: caller.connectionId, conversationId: input.conversationId })
  assertAllowed(result, 'read')
  assertWithinLimit(result, 'joinConversation and leaveConversation')
  caller.answered?.()
  const left: ServerFrame = { type: 'userLeft', conversationId: input.conversationId, userId: result.userId }
  await deliver(ports, [...okFor(caller), ...toOthers(result.listeners, caller, left)], caller)
}

export interface ConnectInput {
  connectionId: string
  identity: Identity
  tokenExpiresAt: Date
  maxConnectionsPerUser: number
}

export interface ConnectUseCasePorts {
  store: ChatStore
  /** Without it (no Management API), $connect neither announces presence nor checks for stale connections. */
  delivery?: Delivery<ServerFrame> | undefined
  log: Log
}

/**
 * $connect: registers the connection, creating the user on first contact.
 * 1. One statement registers it, or reports the user at the limit with their oldest connections.
 * 2. At the limit, those are checked with GetConnection: the ones API Gateway no longer knows
 *    (410: their $disconnect was lost) are forgotten and the statement runs again (#11 item 2).
 * 3. On the user's first live connection, the other participants' connections hear `presence`
 *    online (#13). Never the connecting connection itself: API Gateway does not allow posting to
 *    a connection from its own $connect.
 */
export async function connect(ports: ConnectUseCasePorts, input: ConnectInput): Promise<{ userId: string }> {
  const command = { ...input, initialRole: initialRole(input.identity.groups) }
  let result = await ports.store.connect(command)
  if (result.outcome === 'too_many_connections' && result.oldest.length > 0 && ports.delivery?.probe) {
    const gone = await ports.delivery.probe(result.oldest)
    if (gone.length > 0) {
      ports.log.info('reclaimed connection slots API Gateway no longer knows', { userId: result.userId, reclaimed: gone.length })
      const departures = await ports.store.forgetConnections(gone)
      result = await ports.store.connect(command)
      await announceDepartures({ store: ports.store, delivery: ports.delivery, log: ports.log }, departures, { connecting: input.connectionId })
    }
  }
  if (result.outcome === 'disabled') throw new ChatError('forbidden', 'This account is disabled')
  if (result.outcome === 'too_many_connections') {
    throw new ChatError('rate_limited', `At most ${input.maxConnectionsPerUser} live connections per user`)
  }
  if (ports.delivery && result.online.length > 0) {
    await postPresence({ delivery: ports.delivery, log: ports.log }, onlineFrames(result.userId, result.online), { connecting: input.connectionId })
  }
  return { userId: result.userId }
}

/**
 * $disconnect: forgets the connection; when it was the user's last connection that joined a
 * conversation, the other participant's joined connections hear `userLeft`, and when it was
 * their last live connection, the other participants hear `presence` offline (#13).
 */
export async function disconnect(ports: Omit<ChatPorts, 'metrics'>, connectionId: string): Promise<void> {
  await announceDepartures(ports, await ports.store.disconnect(connectionId))
}

/** The `ok` a request without a result of its own gets, when it carries a requestId (one reply per request). */
function okFor(caller: Caller): Outgoing<ServerFrame>[] {
  return caller.requestId === undefined ? [] : [{ connectionId: caller.connectionId, frame: { type: 'ok', requestId: caller.requestId } }]
}

/** The caller's requestId, to echo on the frames that answer them. */
export function echo(caller: Caller): { requestId?: string } {
  return caller.requestId === undefined ? {} : { requestId: caller.requestId }
}
