import type { ServerFrame } from '@trainer-chat/protocol'
import type { ConversationStatus, Role } from '../model.ts'
import type { Delivery, Departures, ForgetOptions, Log } from '../ports.ts'
import type { AdminTransactions } from './actor.ts'
import type { ActivityKey, AdminConversation, AdminMessage, AdminUser, AuditEntry, AuditRecord, EmailKey, Notified, Page } from './model.ts'

/**
 * What the admin use cases need from outside: the transaction's statements (by job: conversations,
 * users, audit), the store that opens it, and the delivery that announces a committed change. The
 * statements' interfaces live here, not beside their use cases, so the use cases import the ports
 * and nothing imports back.
 */

/** Everything an admin request's transaction can do, once its caller was found to be an admin. */
export interface AdminTransaction extends ConversationQueries, UserQueries, AuditQueries {}

export interface AdminStore extends AdminTransactions<AdminTransaction> {
  /** Removes connection rows API Gateway reported gone; what that means for the other participants. */
  forgetConnections(connectionIds: readonly string[], options?: ForgetOptions): Promise<Departures>
}

export interface AdminPorts {
  store: AdminStore
  delivery: Delivery<ServerFrame>
  log: Log
}

/** The parts of the admin ports that tell live connections about a committed change. */
export type Announcer = Pick<AdminPorts, 'delivery' | 'log'> & { store: Pick<AdminStore, 'forgetConnections'> }

export interface ConversationFilter {
  status?: ConversationStatus | undefined
  trainerId?: string | undefined
  memberId?: string | undefined
  limit: number
  after?: ActivityKey | undefined
}

export interface ConversationState {
  id: string
  memberId: string
  trainerId: string
  status: ConversationStatus
  /** The member's currently assigned trainer. */
  assignedTrainerId: string | null
  /** Another open conversation of the same member and trainer, if any. */
  otherOpenId: string | null
  /** Whether either participant's account was erased (core/privacy.ts). */
  participantErased: boolean
}

/** The conversation and message statements, each one statement inside the request's transaction. */
export interface ConversationQueries {
  listConversations(filter: ConversationFilter): Promise<Page<AdminConversation, ActivityKey>>
  /** `found` is false when the conversation does not exist. */
  conversationHistory(
    conversationId: string,
    page: { before?: number | undefined; limit: number },
  ): Promise<{ found: boolean; messages: AdminMessage[]; hasMore: boolean }>
  loadConversation(conversationId: string): Promise<ConversationState | null>
  loadMessage(messageId: string): Promise<{ id: string; hidden: boolean } | null>

  closeConversation(conversationId: string, reason: string): Promise<Notified<AdminConversation>>
  reopenConversation(conversationId: string): Promise<Notified<AdminConversation>>
  /** Closes every open conversation the user takes part in (optionally sparing one trainer's); returns their ids. */
  closeConversationsOf(userId: string, reason: string, spareTrainerId?: string): Promise<Notified<string>[]>
  hideMessage(messageId: string, hiddenBy: string, reason: string): Promise<Notified<AdminMessage>>
  /** Makes sure the pair has an open conversation: the open one, else the most recent closed one reopened, else a new one. */
  openConversation(
    memberId: string,
    trainerId: string,
  ): Promise<{ conversationId: string; outcome: 'existing' | 'reopened' | 'created'; /** Both participants' live connections. */ connectionIds: string[] }>
  conversation(conversationId: string): Promise<AdminConversation>
  latestConversation(memberId: string, trainerId: string): Promise<AdminConversation | null>
}

export interface UserState {
  id: string
  role: Role
  trainerId: string | null
  disabledAt: string | null
  /** Set when the account was erased (core/privacy.ts): it then takes no admin change but the erasure. */
  erasedAt: string | null
  /** Members whose assigned trainer is this user. */
  assignedMembers: number
}

export interface UserFilter {
  role?: Role | undefined
  limit: number
  after?: EmailKey | undefined
}

/** The user statements, each one statement inside the request's transaction. */
export interface UserQueries {
  listUsers(filter: UserFilter): Promise<Page<AdminUser, EmailKey>>
  /** The user and, when asked, the trainer to assign, in one statement. */
  loadUsers(userId: string, trainerId?: string): Promise<{ user: UserState | null; trainer: UserState | null }>
  setTrainer(memberId: string, trainerId: string): Promise<void>
  /** Sets the role; anyone who is no longer a member loses their assigned trainer. */
  setRole(userId: string, role: Role): Promise<void>
  /** Disables the account (disabled_at = now()) or enables it again (disabled_at = NULL). */
  setDisabled(userId: string, disabled: boolean): Promise<void>
  /** Deletes the user's connection rows and returns their ids. */
  dropConnections(userId: string): Promise<string[]>
  user(userId: string): Promise<AdminUser>
}

/** The audit statements, each one statement inside the request's transaction. */
export interface AuditQueries {
  listAudit(page: { limit: number; after?: ActivityKey | undefined }): Promise<Page<AuditEntry, ActivityKey>>
  record(entry: AuditRecord): Promise<void>
}
