import {
  assertAttachmentUsable,
  describeAttachment,
  inspectUpload,
  signMessage,
  signMessages,
} from './attachments.ts'
import { ChatError } from './errors.ts'
import { initialRole, type Identity, type Listener, type Message } from './model.ts'
import type { AttachmentStorage, ChatStore, Delivery, DeliveryReport, Outgoing, Verdict } from './ports.ts'
import { notifyOffline, type PushPorts } from './push.ts'
import { HISTORY_DEFAULT_LIMIT, MAX_BODY_CHARS, type ServerFrame } from './protocol.ts'
import type { Throttle } from './throttle.ts'

/**
 * The chat use cases. Each takes its ports, asks the store once (the store authorizes and acts
 * in a single statement and reports a verdict), turns a refusal into a ChatError, and fans the
 * result out. Nothing here knows about AWS, SQL or the wire format of events.
 */

export interface ChatPorts {
  store: ChatStore
  delivery: Delivery<ServerFrame>
  log?: { warn(message: string, fields?: Record<string, unknown>): void }
  /** Object storage for attachments; without it, messages with attachments are refused. */
  storage?: AttachmentStorage | undefined
  /** Push notifications for offline recipients; without it, nobody is notified. */
  push?: PushPorts | undefined
  /** Per-connection limit on typing frames; beyond it they are dropped without touching the database. */
  typingThrottle?: Throttle | undefined
}

export interface Caller {
  connectionId: string
  requestId?: string | undefined
}

const PREVIEW_CHARS = 100

/** Maps a verdict to the refusal the caller sees. Reads are allowed on closed conversations. */
export function assertAccess(verdict: Verdict, intent: 'read' | 'write'): void {
  switch (verdict) {
    case 'ok':
      return
    case 'closed':
      if (intent === 'read') return
      throw new ChatError('conversation_closed', 'This conversation is closed; it is read-only')
    case 'not_found':
      throw new ChatError('not_found', 'Conversation not found')
    case 'forbidden':
      throw new ChatError('forbidden', 'You are not a participant in this conversation')
    case 'unauthorized':
      throw new ChatError('unauthorized', 'Your session has expired or was revoked; reconnect with a fresh token')
  }
}

/** Trims a message body and enforces 1..MAX_BODY_CHARS characters (0.. when the message carries an attachment). */
export function normalizeBody(body: string | undefined, options: { allowEmpty?: boolean } = {}): string {
  const trimmed = (body ?? '').trim()
  if (trimmed.length === 0) {
    if (options.allowEmpty) return ''
    throw new ChatError('bad_request', 'body must not be empty', { field: 'body' })
  }
  // Count code points, not UTF-16 units, so an emoji counts as one character.
  const length = [...trimmed].length
  if (length > MAX_BODY_CHARS) {
    throw new ChatError('too_large', `body is ${length} characters; the limit is ${MAX_BODY_CHARS}`, {
      field: 'body',
      limit: MAX_BODY_CHARS,
    })
  }
  return trimmed
}

export function preview(body: string): string {
  const chars = [...body]
  return chars.length <= PREVIEW_CHARS ? body : `${chars.slice(0, PREVIEW_CHARS - 1).join('')}…`
}

async function deliver(ports: ChatPorts, outgoing: Outgoing<ServerFrame>[]): Promise<DeliveryReport> {
  const report = await ports.delivery.post(outgoing)
  if (report.gone.length > 0) await ports.store.forgetConnections(report.gone)
  if (report.failed.length > 0) ports.log?.warn('delivery failed for some connections', { failed: report.failed })
  return report
}

function toOthers(listeners: Listener[], caller: Caller, frame: ServerFrame): Outgoing<ServerFrame>[] {
  return listeners
    .filter((listener) => listener.connectionId !== caller.connectionId)
    .map((listener) => ({ connectionId: listener.connectionId, frame }))
}

/**
 * sendMessage:
 * 1. validate the body (optional with an attachment); ask storage what was uploaded for the attachment (HeadObject);
 * 2. one statement authorizes, checks and claims the attachment, dedupes by clientMessageId,
 *    assigns seq, stores, and returns listeners and, for an offline recipient, what a push needs;
 * 3. a retry answers the sender alone with the original message;
 * 4. otherwise every joined connection of both participants gets `newMessage`, the sending
 *    connection always does (it is the acknowledgement), and the recipient's other live
 *    connections get `newMessageNotification`;
 * 5. only then, an offline recipient's devices get a push (a failure there is logged, never thrown).
 */
export async function sendMessage(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string; clientMessageId: string; body?: string | undefined; attachmentId?: string | undefined },
): Promise<Message> {
  const { attachmentId } = input
  const body = normalizeBody(input.body, { allowEmpty: attachmentId !== undefined })
  const object = attachmentId === undefined ? undefined : await inspectUpload(ports.storage, input.conversationId, attachmentId)
  const result = await ports.store.sendMessage({
    connectionId: caller.connectionId,
    conversationId: input.conversationId,
    clientMessageId: input.clientMessageId,
    body,
    ...(attachmentId === undefined ? {} : { attachment: { id: attachmentId, object: object ?? null } }),
  })
  assertAccess(result.verdict, 'write')
  if (result.retryAfterMs !== undefined) {
    throw new ChatError('rate_limited', 'You are sending messages too fast; retry the same clientMessageId later', {
      retryAfterMs: result.retryAfterMs,
    })
  }
  const stored = result.message
  if (!stored) {
    assertAttachmentUsable(result.attachmentVerdict)
    throw new ChatError('conversation_closed', 'This conversation is closed; it is read-only')
  }
  if (stored.conversationId !== input.conversationId) {
    throw new ChatError('bad_request', 'clientMessageId was already used for another conversation', {
      field: 'clientMessageId',
    })
  }
  const message = await signMessage(ports.storage, stored)

  const ack: Outgoing<ServerFrame> = {
    connectionId: caller.connectionId,
    frame: { type: 'newMessage', message, ...requestIdOf(caller) },
  }
  if (result.duplicate) {
    await deliver(ports, [ack])
    return message
  }

  const newMessage: ServerFrame = { type: 'newMessage', message }
  const notification: ServerFrame = {
    type: 'newMessageNotification',
    conversationId: message.conversationId,
    messageId: message.id,
    senderId: message.senderId,
    preview: preview(message.body) || describeAttachment(message.attachment),
  }
  const outgoing = [ack]
  for (const listener of result.listeners) {
    if (listener.connectionId === caller.connectionId) continue
    if (listener.joined) outgoing.push({ connectionId: listener.connectionId, frame: newMessage })
    else if (listener.userId !== message.senderId) outgoing.push({ connectionId: listener.connectionId, frame: notification })
  }
  await deliver(ports, outgoing)
  if (result.push && ports.push) await notifyOffline(ports.push, stored, result.push, preview(message.body), ports.log)
  return message
}

export async function typing(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string; isTyping: boolean },
): Promise<void> {
  // A typing indicator is worth nothing late or twice: excess frames are dropped silently
  // (only a requestId gets its `ok`), so a chatty or hostile client costs no database round trip.
  if (ports.typingThrottle && !ports.typingThrottle.allow(caller.connectionId)) {
    await deliver(ports, okFor(caller))
    return
  }
  const result = await ports.store.typing({ connectionId: caller.connectionId, conversationId: input.conversationId })
  assertAccess(result.verdict, 'write')
  const frame: ServerFrame = {
    type: 'userTyping',
    conversationId: input.conversationId,
    userId: result.userId as string,
    isTyping: input.isTyping,
  }
  await deliver(ports, [...okFor(caller), ...toOthers(result.listeners, caller, frame)])
}

export async function markAsRead(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string; messageId: string },
): Promise<void> {
  const result = await ports.store.markAsRead({ connectionId: caller.connectionId, ...input })
  assertAccess(result.verdict, 'read')
  if (!result.messageFound) throw new ChatError('not_found', 'Message not found in this conversation')
  if (result.markedCount === 0) {
    await deliver(ports, okFor(caller))
    return
  }
  const frame: ServerFrame = {
    type: 'messageRead',
    conversationId: input.conversationId,
    messageId: input.messageId,
    userId: result.userId as string,
    readAt: result.readAt,
  }
  await deliver(ports, [...okFor(caller), ...toOthers(result.listeners, caller, frame)])
}

export async function joinConversation(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string; limit?: number | undefined; afterSeq?: number | undefined },
): Promise<void> {
  const result = await ports.store.joinConversation({
    connectionId: caller.connectionId,
    conversationId: input.conversationId,
    limit: input.limit ?? HISTORY_DEFAULT_LIMIT,
    ...(input.afterSeq === undefined ? {} : { afterSeq: input.afterSeq }),
  })
  assertAccess(result.verdict, 'read')
  const history: ServerFrame = {
    type: 'conversationHistory',
    conversationId: input.conversationId,
    messages: await signMessages(ports.storage, result.messages),
    hasMore: result.hasMore,
    ...requestIdOf(caller),
  }
  const joined: ServerFrame = { type: 'userJoined', conversationId: input.conversationId, userId: result.userId as string }
  await deliver(ports, [{ connectionId: caller.connectionId, frame: history }, ...toOthers(result.listeners, caller, joined)])
}

export async function leaveConversation(
  ports: ChatPorts,
  caller: Caller,
  input: { conversationId: string },
): Promise<void> {
  const result = await ports.store.leaveConversation({ connectionId: caller.connectionId, conversationId: input.conversationId })
  assertAccess(result.verdict, 'read')
  const left: ServerFrame = { type: 'userLeft', conversationId: input.conversationId, userId: result.userId as string }
  await deliver(ports, [...okFor(caller), ...toOthers(result.listeners, caller, left)])
}

export interface ConnectInput {
  connectionId: string
  identity: Identity
  tokenExpiresAt: Date
  maxConnectionsPerUser: number
}

/** $connect: registers the connection, creating the user on first contact. */
export async function connect(store: ChatStore, input: ConnectInput): Promise<{ userId: string }> {
  const result = await store.connect({ ...input, initialRole: initialRole(input.identity.groups) })
  if (result.outcome === 'disabled') throw new ChatError('forbidden', 'This account is disabled')
  if (result.outcome === 'too_many_connections') {
    throw new ChatError('rate_limited', `At most ${input.maxConnectionsPerUser} live connections per user`)
  }
  return { userId: result.userId }
}

/** The `ok` a request without a result of its own gets, when it carries a requestId (one reply per request). */
function okFor(caller: Caller): Outgoing<ServerFrame>[] {
  return caller.requestId === undefined ? [] : [{ connectionId: caller.connectionId, frame: { type: 'ok', requestId: caller.requestId } }]
}

function requestIdOf(caller: Caller): { requestId?: string } {
  return caller.requestId === undefined ? {} : { requestId: caller.requestId }
}
