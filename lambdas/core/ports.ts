import type { Identity, Listener, Message, Role } from './model.ts'

/**
 * What the chat use cases need from the outside world. The Postgres adapter implements
 * ChatStore (each method is one database round trip); the API Gateway Management API adapter
 * implements Delivery. Unit tests hand in in-memory fakes.
 */

/** How a caller stands towards a conversation, decided in the same statement that acts on it. */
export type Verdict = 'ok' | 'closed' | 'forbidden' | 'not_found' | 'unauthorized'

export interface Access {
  verdict: Verdict
  /** The caller's user id; null when the connection is unknown. */
  userId: string | null
}

export interface SendMessageCommand {
  connectionId: string
  conversationId: string
  clientMessageId: string
  body: string
}

export interface SendMessageResult extends Access {
  /** The stored message: new, or the original one for a retried clientMessageId. */
  message: Message | null
  duplicate: boolean
  /** Live connections of both participants. */
  listeners: Listener[]
}

export interface ConversationCommand {
  connectionId: string
  conversationId: string
}

export interface ListenersResult extends Access {
  /** Live connections of the other participant that joined the conversation. */
  listeners: Listener[]
}

export interface JoinResult extends ListenersResult {
  messages: Message[]
  hasMore: boolean
}

export interface MarkAsReadResult extends ListenersResult {
  messageFound: boolean
  /** How many messages became read; 0 when they already were. */
  markedCount: number
  readAt: string
}

export interface ConnectCommand {
  connectionId: string
  identity: Identity
  initialRole: Role
  tokenExpiresAt: Date
  maxConnectionsPerUser: number
}

export type ConnectResult =
  | { outcome: 'connected'; userId: string }
  | { outcome: 'disabled' | 'too_many_connections'; userId: string }

export interface ChatStore {
  connect(command: ConnectCommand): Promise<ConnectResult>
  disconnect(connectionId: string): Promise<void>
  sendMessage(command: SendMessageCommand): Promise<SendMessageResult>
  typing(command: ConversationCommand): Promise<ListenersResult>
  markAsRead(command: ConversationCommand & { messageId: string }): Promise<MarkAsReadResult>
  joinConversation(command: ConversationCommand & { limit: number; afterSeq?: number }): Promise<JoinResult>
  leaveConversation(command: ConversationCommand): Promise<ListenersResult>
  /** Removes connection rows that API Gateway reported gone. */
  forgetConnections(connectionIds: readonly string[]): Promise<void>
}

export interface Outgoing<F> {
  connectionId: string
  frame: F
}

export interface DeliveryReport {
  delivered: string[]
  /** Connections API Gateway no longer knows (410): their rows should be removed. */
  gone: string[]
  /** Connections that failed for another reason after retries: logged, kept. */
  failed: string[]
}

export interface Delivery<F> {
  post(outgoing: readonly Outgoing<F>[]): Promise<DeliveryReport>
  /** Closes a connection from the server side (DeleteConnection). */
  disconnect(connectionId: string): Promise<void>
}
