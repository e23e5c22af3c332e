import type { Device, Identity, Listener, Platform, Reaction, Role, StoredMessage } from './model.ts'

/**
 * What the chat use cases need from the outside world. The Postgres adapter implements
 * ChatStore (each method is one database round trip); the API Gateway Management API adapter
 * implements Delivery. Unit tests hand in in-memory fakes.
 */

/** Structured log lines: callers pass facts, never tokens or frames (lambdas/adapters/logger.ts). */
export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

/** The operational counts, emitted as metrics (lambdas/adapters/metrics.ts). */
export type MetricName = 'messagesStored' | 'fanOutPosts' | 'connectionsGone' | 'pushFailures' | 'sendsRateLimited'

export interface Counter {
  count(name: MetricName, value?: number): void
}

/** How a caller stands towards a conversation, decided in the same statement that acts on it. */
export type Verdict = 'ok' | 'closed' | 'forbidden' | 'not_found' | 'unauthorized'

/** A refusal: the statement did nothing, and the caller learns only why. */
export interface Refused {
  verdict: 'forbidden' | 'not_found' | 'unauthorized'
}

/** A participant (of an open or closed conversation) and what the statement found or did. */
export type Allowed<T> = { verdict: 'ok' | 'closed'; /** The caller's user id. */ userId: string } & T

/**
 * What a statement acting for a connection on a conversation reports. Only a participant's report
 * is sure to carry the rest (and their user id); use cases narrow with `assertAllowed` first.
 */
export type Access<T> = (Refused & Partial<T> & { userId?: string | null }) | Allowed<T>

export interface SendMessageCommand {
  connectionId: string
  conversationId: string
  clientMessageId: string
  /** May be empty when the message carries an attachment. */
  body: string
  /** The attachment to carry, with what storage holds under its key (null: nothing uploaded). */
  attachment?: { id: string; object: StoredObject | null } | undefined
  /** The message of the same conversation this one answers. */
  replyToId?: string | undefined
}

export type SendMessageResult = Access<{
  /** The stored message: new, or the original one for a retried clientMessageId; null when refused. */
  message: StoredMessage | null
  duplicate: boolean
  /** Set when the sender's rate limit refused the message (nothing was stored): when to try again. */
  retryAfterMs?: number
  /** Live connections of both participants. */
  listeners: Listener[]
  /** Whether the attachment may be used; `none` when the command carried none. */
  attachmentVerdict: AttachmentVerdict
  /** Set only for a new message whose recipient has no live connection, is not muted and has enabled devices. */
  push: PushTarget | null
  /** False when replyToId named no message of this conversation (nothing was stored); absent means found. */
  replyFound?: boolean
}>

export interface ConversationCommand {
  connectionId: string
  conversationId: string
}

/**
 * Set when the user's per-user limit of the action (typing, join/leave, markAsRead) refused it:
 * nothing was done, and a whole token is there again after this many milliseconds.
 */
export interface Limited {
  retryAfterMs?: number
}

export type LimitedListenersResult = Access<{ listeners: Listener[] } & Limited>

export type JoinResult = Access<{ listeners: Listener[]; messages: StoredMessage[]; hasMore: boolean } & Limited>

export type MarkAsReadResult = Access<Limited & {
  listeners: Listener[]
  messageFound: boolean
  /** How many messages became read; 0 when they already were. */
  markedCount: number
  readAt: string
}>

/**
 * How the message an action names stands towards the caller, decided in the action's statement:
 * `not_sender` (edit, delete: only the sender may), `gone` (deleted or removed: not editable, no
 * reactions), `window_passed` (edit: too long after sending).
 */
export type MessageVerdict = 'ok' | 'not_found' | 'not_sender' | 'gone' | 'window_passed'

export interface MessageCommand extends ConversationCommand {
  messageId: string
}

export interface EditMessageCommand extends MessageCommand {
  body: string
  /** How long after sending the sender may edit (config MESSAGE_EDIT_WINDOW_SECONDS). */
  editWindowSeconds: number
}

export type EditMessageResult = Access<{
  messageVerdict: MessageVerdict
  /** The message as edited; null when nothing was edited. */
  message: StoredMessage | null
  /** Joined connections of both participants. */
  listeners: Listener[]
}>

export type DeleteMessageResult = Access<{
  messageVerdict: MessageVerdict
  /** False when the message was already deleted (nothing changed). */
  deleted: boolean
  listeners: Listener[]
}>

export interface ReactCommand extends MessageCommand {
  emoji: string
  on: boolean
}

export type ReactResult = Access<{
  messageVerdict: MessageVerdict
  /** False when the caller's reaction already stood as asked (nothing changed). */
  changed: boolean
  /** The message's reactions after the statement. */
  reactions: Reaction[]
  listeners: Listener[]
}>

export interface ConnectCommand {
  connectionId: string
  identity: Identity
  initialRole: Role
  tokenExpiresAt: Date
  maxConnectionsPerUser: number
}

/** A conversation and the live connections of its other participant that must hear about a change. */
export interface ConversationAudience {
  conversationId: string
  connectionIds: string[]
}

export type ConnectResult =
  /** `online`: set when this is the user's first live connection and they share presence. */
  | { outcome: 'connected'; userId: string; online: ConversationAudience[] }
  | { outcome: 'disabled'; userId: string }
  /** `oldest`: the user's oldest live connections, to check with GetConnection before refusing. */
  | { outcome: 'too_many_connections'; userId: string; oldest: string[] }

/** What the deletion of connection rows means for the other participants. */
export interface Departures {
  /** Users whose last live connection went away and who share presence: `presence` offline to the others. */
  offline: Array<{ userId: string; lastSeenAt: string; audiences: ConversationAudience[] }>
  /** A user no longer has a connection that joined the conversation: `userLeft` to the other participant's joined connections. */
  left: Array<{ userId: string; conversationId: string; connectionIds: string[] }>
}

export interface ChatStore {
  connect(command: ConnectCommand): Promise<ConnectResult>
  /** $disconnect: deletes the connection's row. */
  disconnect(connectionId: string): Promise<Departures>
  sendMessage(command: SendMessageCommand): Promise<SendMessageResult>
  typing(command: ConversationCommand): Promise<LimitedListenersResult>
  markAsRead(command: ConversationCommand & { messageId: string }): Promise<MarkAsReadResult>
  joinConversation(command: ConversationCommand & { limit: number; afterSeq?: number }): Promise<JoinResult>
  leaveConversation(command: ConversationCommand): Promise<LimitedListenersResult>
  editMessage(command: EditMessageCommand): Promise<EditMessageResult>
  deleteMessage(command: MessageCommand): Promise<DeleteMessageResult>
  react(command: ReactCommand): Promise<ReactResult>
  /** Removes connection rows that API Gateway reported gone. */
  /** Deletes the rows; with `establishedOnly` (a fan-out's 410s) only of connections past their $connect. */
  forgetConnections(connectionIds: readonly string[], options?: ForgetOptions): Promise<Departures>
}

export interface Outgoing<F> {
  connectionId: string
  frame: F
}

export interface DeliveryReport {
  /** Connections API Gateway no longer knows (410): their rows should be removed. */
  gone: string[]
  /** Connections that failed for another reason after retries: logged, kept. */
  failed: string[]
  /** Connections whose post was still running at the deadline: dropped, counted, logged. */
  late?: string[]
}

export interface PostOptions {
  /** Epoch milliseconds after which posts still in flight are abandoned and reported `late`. */
  deadline?: number | undefined
}

export interface Delivery<F> {
  post(outgoing: readonly Outgoing<F>[], options?: PostOptions): Promise<DeliveryReport>
  /** Closes a connection from the server side (DeleteConnection). */
  disconnect(connectionId: string): Promise<void>
  /**
   * Asks API Gateway about each connection (GetConnection) and returns those it no longer knows
   * (410). Optional: without it, $connect refuses a user at the limit without checking.
   */
  probe?(connectionIds: readonly string[]): Promise<string[]>
}

/** Why an attachment may not be used, decided in the send statement. */
export type AttachmentVerdict =
  | 'none'
  | 'ok'
  | 'not_found'
  | 'forbidden'
  | 'used'
  | 'expired'
  | 'not_uploaded'
  | 'type_mismatch'
  | 'size_mismatch'

/** What object storage reports about an uploaded object (HeadObject). */
export interface StoredObject {
  contentType: string
  size: number
}

export interface UploadTicket {
  url: string
  method: 'PUT'
  /** Headers the upload must carry exactly as given: they are part of the signature. */
  headers: Record<string, string>
  expiresAt: string
}

/** Object storage for attachments (S3). Presigning is a local computation; head and delete are calls. */
export interface AttachmentStorage {
  presignUpload(object: { key: string; contentType: string; size: number }): Promise<UploadTicket>
  presignDownload(object: { key: string; fileName: string; contentType: string }): Promise<string>
  /** null when no object exists under the key. */
  head(key: string): Promise<StoredObject | null>
  delete(key: string): Promise<void>
}

export interface NewAttachment {
  id: string
  conversationId: string
  key: string
  fileName: string
  contentType: string
  size: number
}

export interface AttachmentStore {
  /** Records an upload the caller may make to a conversation; one statement that checks they are a participant. */
  create(identity: Identity, attachment: NewAttachment): Promise<Verdict>
  /** Unused attachments created more than `olderThanSeconds` ago. */
  unused(olderThanSeconds: number, limit: number): Promise<Array<{ id: string; key: string }>>
  /** Deletes those rows that are still unused; returns how many went. */
  forget(ids: readonly string[]): Promise<number>
}

/** Everything needed to notify an offline recipient, returned by the send statement. */
export interface PushTarget {
  recipientId: string
  senderName: string
  /** The recipient's unread messages, this one included: the badge. */
  unreadCount: number
  endpoints: PushEndpoint[]
}

export interface PushEndpoint {
  endpointArn: string
  platform: Platform
}

/** What a notification says; the adapter renders it for APNs and FCM. */
export interface PushNotification {
  title: string
  body: string
  conversationId: string
  messageId: string
  badge: number
}

export interface PushNotifier {
  /** Creates (or reuses) the platform endpoint for a device token and makes sure it is enabled. */
  registerEndpoint(platform: Platform, token: string): Promise<string>
  /** `endpoint_disabled`: the provider reported the endpoint disabled or gone; other failures throw. */
  publish(endpoint: PushEndpoint, notification: PushNotification): Promise<'sent' | 'endpoint_disabled'>
  deleteEndpoint(endpointArn: string): Promise<void>
}

export interface DeviceStore {
  /**
   * Stores (or moves to the caller) a device; null when the caller's account is disabled. `moved`
   * names the previous owner (and their endpoint) when the token belonged to another user.
   */
  register(
    identity: Identity,
    device: { token: string; platform: Platform; endpointArn: string },
  ): Promise<{ device: Device; userId: string; moved: { fromUserId: string; endpointArn: string } | null } | null>
  list(identity: Identity): Promise<Device[]>
  /** Removes the caller's device; its endpoint ARN, or null when the caller has no such device. */
  remove(identity: Identity, token: string): Promise<string | null>
  /** Marks the devices behind these endpoints disabled. */
  disable(endpointArns: readonly string[]): Promise<void>
  /** Whether the caller muted every conversation, and which conversations they muted one by one. */
  notificationSettings(identity: Identity): Promise<{ muted: boolean; mutedConversationIds: string[] }>
  setMuted(identity: Identity, muted: boolean): Promise<void>
  setConversationMuted(identity: Identity, conversationId: string, muted: boolean): Promise<Verdict>
}

/** How forgetConnections treats rows (see adapters/chat-store.ts forgetConnections). */
export interface ForgetOptions {
  /** A fan-out's 410: keep rows that may still be inside their own $connect. */
  establishedOnly?: boolean
}
