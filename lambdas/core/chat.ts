import type { ServerFrame, ServerFrameOf } from '@trainer-chat/protocol'
import { HISTORY_DEFAULT_LIMIT, MAX_SERVER_FRAME_BYTES } from '@trainer-chat/protocol/server'
import { signMessages } from './attachments.ts'
import { ChatError } from './errors.ts'
import { initialRole, type Identity, type Listener, type Message } from './model.ts'
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

/**
 * The caller's `ok` and, when the action changed something, `frame` for every other listening
 * connection. Without a change the `ok` goes out alone, not bound by the caller's deadline.
 */
async function okAndTellOthers(ports: ChatPorts, caller: Caller, frame: ServerFrame, listeners: Listener[], changed: boolean): Promise<void> {
  if (!changed) return deliver(ports, okFor(caller))
  await deliver(ports, [...okFor(caller), ...toOthers(listeners, caller, frame)], caller)
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
  const frame: ServerFrame = {
    type: 'userTyping',
    conversationId: input.conversationId,
    userId: result.userId,
    isTyping: input.isTyping,
  }
  // Over the user's limit (all their connections together): dropped like the in-memory excess.
  await okAndTellOthers(ports, caller, frame, result.listeners, result.retryAfterMs === undefined)
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
  const frame: ServerFrame = {
    type: 'messageRead',
    conversationId: input.conversationId,
    messageId: input.messageId,
    userId: result.userId,
    readAt: result.readAt,
  }
  await okAndTellOthers(ports, caller, frame, result.listeners, result.markedCount > 0)
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
  // (historyFrame, at the end of this file), so nothing it carries can take it past API Gateway's 128 KB.
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

// ---- History pages, bounded by bytes ----

/**
 * A `conversationHistory` page is bounded by bytes as well as by count: API Gateway refuses a
 * PostToConnection payload over 128 KB, and nine legal messages of 4,000 emoji already weigh
 * 146 KB. Two bounds keep every page under it:
 *
 * 1. The join statement walks the page in its order (newest first for the latest page, oldest
 *    first after `afterSeq`) keeping a running sum of each message's JSON as PostgreSQL renders
 *    it (wider than ours: `"key" : value` separators, microsecond timestamps) plus a reserve for
 *    the download URL an attachment gets after the statement, and stops before the sum passes
 *    HISTORY_STATEMENT_BUDGET_BYTES. Fields added to the message JSON in SQL are counted as they
 *    are; the 32 KB left under the limit is for the envelope and anything added afterwards.
 * 2. `historyFrame` measures the frame it builds, as it will be sent, and drops messages from
 *    the far end of the page until it fits. After bound 1 this drops nothing; it is what makes
 *    "no history frame over the limit" true whatever the messages carry.
 *
 * The first message of the walk is always kept (one message is far below the limit), so paging
 * always makes progress: a page that ends early has `hasMore` and at least one message.
 */

/** What the join statement lets a page's messages weigh, as PostgreSQL measures their JSON. */
export const HISTORY_STATEMENT_BUDGET_BYTES = 96 * 1024

/**
 * Reserved per attachment for its presigned download URL: the endpoint, key, SigV4 parameters
 * and a Lambda session token (about 1–2 KB) ...
 */
export const ATTACHMENT_URL_RESERVE_BYTES = 4096
/**
 * ... plus, per UTF-8 byte of the file name, what the name costs in the URL's
 * `response-content-disposition` (RFC 8187 percent-encoding, `%` percent-encoded again in the
 * query string: 5 bytes; the ASCII fallback name, percent-encoded: at most 3).
 */
export const ATTACHMENT_URL_BYTES_PER_NAME_BYTE = 8

export type HistoryFrame = ServerFrameOf<'conversationHistory'>

const encoder = new TextEncoder()

/** The size of a frame as the delivery adapter sends it (UTF-8 JSON). */
export function frameBytes(frame: unknown): number {
  return encoder.encode(JSON.stringify(frame)).length
}

/**
 * The history frame for a page, trimmed to MAX_SERVER_FRAME_BYTES. `keep` says which end of the
 * page the walk started from: `newest` (the latest page: older messages are dropped first) or
 * `oldest` (a catch-up page after `afterSeq`: newer ones are dropped first). Dropping any sets
 * `hasMore`. Messages stay oldest first.
 */
export function historyFrame(
  page: { conversationId: string; messages: readonly Message[]; hasMore: boolean; requestId?: string | undefined },
  keep: 'newest' | 'oldest',
  limitBytes: number = MAX_SERVER_FRAME_BYTES,
): { frame: HistoryFrame; dropped: number } {
  const build = (messages: Message[], hasMore: boolean): HistoryFrame => ({
    type: 'conversationHistory',
    conversationId: page.conversationId,
    messages,
    hasMore,
    ...(page.requestId === undefined ? {} : { requestId: page.requestId }),
  })
  const whole = build([...page.messages], page.hasMore)
  if (frameBytes(whole) <= limitBytes) return { frame: whole, dropped: 0 }

  // Walk from the kept end, adding each message's encoded size and its comma, until the next
  // one would not fit; the first one is kept whatever it weighs.
  const walk = keep === 'newest' ? [...page.messages].reverse() : [...page.messages]
  let total = frameBytes(build([], true))
  let count = 0
  for (const message of walk) {
    const next = total + frameBytes(message) + (count > 0 ? 1 : 0)
    if (count > 0 && next > limitBytes) break
    total = next
    count += 1
  }
  const kept = walk.slice(0, count)
  if (keep === 'newest') kept.reverse()
  const dropped = page.messages.length - count
  return { frame: build(kept, page.hasMore || dropped > 0), dropped }
}
