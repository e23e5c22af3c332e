import { ChatError } from './errors.ts'
import type { AttachmentInfo, ConversationStatus, Identity, Message, Role } from './model.ts'
import type { Delivery, Departures, ForgetOptions, Log } from './ports.ts'
import { forgetGone } from './presence.ts'
import type { ServerFrame } from './protocol.ts'

/**
 * The admin and moderation use cases. Every request is one database transaction that starts by
 * resolving the caller (in the same statement that reads the target): the database role, not
 * the token, decides whether they are an admin, and any refusal rolls the transaction back, so
 * a refused request changes nothing. Each change writes its audit row inside that transaction.
 * Live connections hear about it only after the commit.
 */

export const ADMIN_PAGE_DEFAULT_LIMIT = 50
export const ADMIN_PAGE_MAX_LIMIT = 100
export const MAX_REASON_CHARS = 500

/** Closing reasons the system writes itself; an admin's own reason is free text. */
export const CLOSED_BY_REASSIGNMENT = 'trainer_reassigned'
export const CLOSED_BY_ROLE_CHANGE = 'role_changed'

export const AUDIT_ACTIONS = [
  'conversation.closed',
  'conversation.reopened',
  'message.hidden',
  'user.trainer_assigned',
  'user.role_changed',
  'user.disabled',
  'user.enabled',
  // Written by core/privacy.ts.
  'user.erased',
  'report.resolved',
] as const
export const AUDIT_TARGETS = ['conversation', 'message', 'user', 'report'] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

// ---- What admins see (lambdas/http/schemas.ts describes the same shapes for the OpenAPI document) ----

export interface UserRef {
  id: string
  email: string
  displayName: string
}

export interface AdminConversation {
  id: string
  status: ConversationStatus
  closedAt: string | null
  closedReason: string | null
  member: UserRef
  trainer: UserRef
  /** seq is gap-free per conversation, so the last seq is the number of messages. */
  messageCount: number
  lastMessageAt: string | null
  createdAt: string
  updatedAt: string
}

/** A message as moderators see it: the original body and attachment even when hidden or deleted, who hid it and why, its earlier versions. */
export interface AdminMessage extends Omit<Message, 'attachment'> {
  attachment: AttachmentInfo | null
  hiddenAt: string | null
  hiddenBy: UserRef | null
  hiddenReason: string | null
  /** Every earlier version of an edited message, oldest first: the body it had until `editedAt`. */
  edits: Array<{ body: string; editedAt: string }>
}

export interface AdminUser {
  id: string
  email: string
  displayName: string
  role: Role
  trainer: UserRef | null
  disabledAt: string | null
  createdAt: string
}

export interface AuditEntry {
  id: string
  actor: UserRef
  action: AuditAction
  targetType: (typeof AUDIT_TARGETS)[number]
  targetId: string
  reason: string | null
  details: Record<string, unknown>
  createdAt: string
}

// ---- Keyset pagination ----

/** The sort key of the last row of a page (timestamps with Postgres' microseconds). */
export interface ActivityKey {
  at: string
  id: string
}
export interface EmailKey {
  email: string
  id: string
}

export interface Page<T, K> {
  items: T[]
  /** The key of the last item when more rows follow, else null. */
  nextKey: K | null
}

// ---- Ports ----

/** The caller as the database knows them. */
export interface Actor {
  userId: string
  role: Role
  disabledAt: string | null
}

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

/** A change together with the live connections that must hear about it. */
export interface Notified<T> {
  value: T
  connectionIds: string[]
}

/** An audit row as a use case writes it: the entry, with the actor by id (the store adds id and time). */
export type AuditRecord = Omit<AuditEntry, 'id' | 'actor' | 'createdAt'> & { actorId: string }

/** Each method is one statement inside the request's transaction. */
export interface AdminTransaction {
  listConversations(identity: Identity, filter: ConversationFilter): Promise<{ actor: Actor } & Page<AdminConversation, ActivityKey>>
  conversationHistory(
    identity: Identity,
    conversationId: string,
    page: { before?: number | undefined; limit: number },
  ): Promise<{ actor: Actor; found: boolean; messages: AdminMessage[]; hasMore: boolean }>
  listUsers(
    identity: Identity,
    filter: { role?: Role | undefined; limit: number; after?: EmailKey | undefined },
  ): Promise<{ actor: Actor } & Page<AdminUser, EmailKey>>
  listAudit(identity: Identity, page: { limit: number; after?: ActivityKey | undefined }): Promise<{ actor: Actor } & Page<AuditEntry, ActivityKey>>

  loadConversation(identity: Identity, conversationId: string): Promise<{ actor: Actor; conversation: ConversationState | null }>
  loadMessage(identity: Identity, messageId: string): Promise<{ actor: Actor; message: { id: string; hidden: boolean } | null }>
  loadUsers(
    identity: Identity,
    userId: string,
    trainerId?: string,
  ): Promise<{ actor: Actor; user: UserState | null; trainer: UserState | null }>

  closeConversation(conversationId: string, reason: string): Promise<Notified<AdminConversation>>
  reopenConversation(conversationId: string): Promise<Notified<AdminConversation>>
  /** Closes every open conversation the user takes part in (optionally sparing one trainer's); returns their ids. */
  closeConversationsOf(userId: string, reason: string, spareTrainerId?: string): Promise<Notified<string>[]>
  hideMessage(messageId: string, hiddenBy: string, reason: string): Promise<Notified<AdminMessage>>
  setTrainer(memberId: string, trainerId: string): Promise<void>
  /** Makes sure the pair has an open conversation: the open one, else the most recent closed one reopened, else a new one. */
  openConversation(
    memberId: string,
    trainerId: string,
  ): Promise<{ conversationId: string; outcome: 'existing' | 'reopened' | 'created'; /** Both participants' live connections. */ connectionIds: string[] }>
  /** Sets the role; anyone who is no longer a member loses their assigned trainer. */
  setRole(userId: string, role: Role): Promise<void>
  /** Disables the account (disabled_at = now()) or enables it again (disabled_at = NULL). */
  setDisabled(userId: string, disabled: boolean): Promise<void>
  /** Deletes the user's connection rows and returns their ids. */
  dropConnections(userId: string): Promise<string[]>
  user(userId: string): Promise<AdminUser>
  conversation(conversationId: string): Promise<AdminConversation>
  latestConversation(memberId: string, trainerId: string): Promise<AdminConversation | null>
  record(entry: AuditRecord): Promise<void>
}

export interface AdminStore {
  /**
   * Runs `work` in one transaction; a throw rolls everything back. `work` may run again when the
   * database aborts it for a conflict with a concurrent transaction, so it must touch only `tx`.
   */
  transaction<T>(work: (tx: AdminTransaction) => Promise<T>): Promise<T>
  /** Removes connection rows API Gateway reported gone; what that means for the other participants. */
  forgetConnections(connectionIds: readonly string[], options?: ForgetOptions): Promise<Departures>
}

export interface AdminPorts {
  store: AdminStore
  delivery: Delivery<ServerFrame>
  log: Log
}

// ---- Use cases ----

/** An erased account is gone for good: no trainer, role or enabling brings it back (docs/privacy.md). */
function refuseErased(user: UserState | null): void {
  if (user?.erasedAt) throw new ChatError('conflict', 'This account was erased', { erasedAt: user.erasedAt })
}

/** Only an enabled admin, by the database's account of them, may pass. */
export function requireAdmin(actor: Actor): void {
  if (actor.role !== 'admin' || actor.disabledAt !== null) throw new ChatError('forbidden', 'This route requires the admin role')
}

export async function listConversations(ports: AdminPorts, identity: Identity, filter: ConversationFilter) {
  return ports.store.transaction(async (tx) => {
    const page = await tx.listConversations(identity, filter)
    requireAdmin(page.actor)
    return { conversations: page.items, nextKey: page.nextKey }
  })
}

export async function conversationHistory(
  ports: AdminPorts,
  identity: Identity,
  input: { conversationId: string; before?: number | undefined; limit: number },
) {
  return ports.store.transaction(async (tx) => {
    const page = await tx.conversationHistory(identity, input.conversationId, input)
    requireAdmin(page.actor)
    if (!page.found) throw new ChatError('not_found', 'Conversation not found')
    return { messages: page.messages, hasMore: page.hasMore }
  })
}

export async function listUsers(
  ports: AdminPorts,
  identity: Identity,
  filter: { role?: Role | undefined; limit: number; after?: EmailKey | undefined },
) {
  return ports.store.transaction(async (tx) => {
    const page = await tx.listUsers(identity, filter)
    requireAdmin(page.actor)
    return { users: page.items, nextKey: page.nextKey }
  })
}

export async function listAudit(ports: AdminPorts, identity: Identity, page: { limit: number; after?: ActivityKey | undefined }) {
  return ports.store.transaction(async (tx) => {
    const result = await tx.listAudit(identity, page)
    requireAdmin(result.actor)
    return { entries: result.items, nextKey: result.nextKey }
  })
}

/**
 * Close a conversation: it becomes read-only for both participants (sendMessage answers
 * `conversation_closed`; history stays readable), and every live connection of both hears
 * `conversationClosed` with the admin's reason.
 */
export async function closeConversation(
  ports: AdminPorts,
  identity: Identity,
  input: { conversationId: string; reason: string },
): Promise<AdminConversation> {
  const closed = await ports.store.transaction(async (tx) => {
    const { actor, conversation } = await tx.loadConversation(identity, input.conversationId)
    requireAdmin(actor)
    if (!conversation) throw new ChatError('not_found', 'Conversation not found')
    if (conversation.status === 'closed') throw new ChatError('conflict', 'The conversation is already closed')
    return closeConversationStep(tx, actor, conversation, input.reason)
  })
  await announceClosed(ports, closed, input.reason)
  return closed.value
}

// ---- Steps shared with other use cases (core/reports.ts): each runs inside the caller's transaction, after its checks ----

/** The parts of the admin ports that tell live connections about a committed change. */
export type Announcer = Pick<AdminPorts, 'delivery' | 'log'> & { store: Pick<AdminStore, 'forgetConnections'> }

/** Closes an open conversation and writes its audit row. */
export async function closeConversationStep(
  tx: AdminTransaction,
  actor: Actor,
  conversation: Pick<ConversationState, 'id' | 'memberId' | 'trainerId'>,
  reason: string,
): Promise<Notified<AdminConversation>> {
  const result = await tx.closeConversation(conversation.id, reason)
  await tx.record({
    actorId: actor.userId,
    action: 'conversation.closed',
    targetType: 'conversation',
    targetId: conversation.id,
    reason,
    details: { memberId: conversation.memberId, trainerId: conversation.trainerId },
  })
  return result
}

/** After the commit: both participants' live connections hear `conversationClosed`. */
export async function announceClosed(ports: Announcer, closed: Notified<AdminConversation>, reason: string): Promise<void> {
  await notify(ports, closed.connectionIds, { type: 'conversationClosed', conversationId: closed.value.id, reason })
}

/** Hides a visible message and writes its audit row. */
export async function hideMessageStep(tx: AdminTransaction, actor: Actor, messageId: string, reason: string): Promise<Notified<AdminMessage>> {
  const result = await tx.hideMessage(messageId, actor.userId, reason)
  await tx.record({
    actorId: actor.userId,
    action: 'message.hidden',
    targetType: 'message',
    targetId: messageId,
    reason,
    details: { conversationId: result.value.conversationId, senderId: result.value.senderId },
  })
  return result
}

/** After the commit: both participants' live connections hear `messageRemoved`. */
export async function announceHidden(ports: Announcer, hidden: Notified<AdminMessage>): Promise<void> {
  const { conversationId, id: messageId } = hidden.value
  await notify(ports, hidden.connectionIds, { type: 'messageRemoved', conversationId, messageId })
}

/**
 * Disables or enables an account whose state differs, deleting a disabled user's connection rows,
 * with the audit row; returns the deleted connections (close them after the commit with
 * `disconnectAll`). An admin cannot disable themselves (so the last admin cannot lock everyone out).
 */
export async function setDisabledStep(
  tx: AdminTransaction,
  actor: Actor,
  user: Pick<UserState, 'id' | 'role' | 'disabledAt'>,
  disabled: boolean,
  reason: string | null,
): Promise<string[]> {
  if (user.id === actor.userId) throw new ChatError('conflict', 'Admins cannot disable their own account')
  await tx.setDisabled(user.id, disabled)
  const dropped = disabled ? await tx.dropConnections(user.id) : []
  await tx.record({
    actorId: actor.userId,
    action: disabled ? 'user.disabled' : 'user.enabled',
    targetType: 'user',
    targetId: user.id,
    reason,
    details: { role: user.role, ...(disabled ? { closedConnections: dropped.length } : { disabledAt: user.disabledAt }) },
  })
  return dropped
}

/**
 * Reopen a closed conversation. Refused (409) when the pair already has another open one (one
 * open conversation per member and trainer) or when the member has since moved to another
 * trainer: a reopened conversation neither participant could use would only mislead. After the
 * commit, both participants' live connections hear `conversationOpened` (#13).
 */
export async function reopenConversation(
  ports: AdminPorts,
  identity: Identity,
  input: { conversationId: string },
): Promise<AdminConversation> {
  const reopened = await ports.store.transaction(async (tx) => {
    const { actor, conversation } = await tx.loadConversation(identity, input.conversationId)
    requireAdmin(actor)
    if (!conversation) throw new ChatError('not_found', 'Conversation not found')
    if (conversation.status === 'open') throw new ChatError('conflict', 'The conversation is already open')
    if (conversation.participantErased) throw new ChatError('conflict', 'A participant of this conversation was erased')
    if (conversation.otherOpenId) {
      throw new ChatError('conflict', 'This member and trainer already have an open conversation', {
        openConversationId: conversation.otherOpenId,
      })
    }
    if (conversation.assignedTrainerId !== conversation.trainerId) {
      throw new ChatError('conflict', "The member is no longer assigned to this conversation's trainer", {
        assignedTrainerId: conversation.assignedTrainerId,
      })
    }
    const reopened = await tx.reopenConversation(conversation.id)
    await tx.record({
      actorId: actor.userId,
      action: 'conversation.reopened',
      targetType: 'conversation',
      targetId: conversation.id,
      reason: null,
      details: { memberId: conversation.memberId, trainerId: conversation.trainerId },
    })
    return reopened
  })
  await notify(ports, reopened.connectionIds, conversationOpened(reopened.value))
  return reopened.value
}

/** The `conversationOpened` frame for a conversation as admins see it. */
function conversationOpened(conversation: AdminConversation): ServerFrame {
  const { id, status, member, trainer, updatedAt } = conversation
  return { type: 'conversationOpened', conversation: { id, userId: member.id, trainerId: trainer.id, status, updatedAt } }
}

/** Hide a message: participants see it as removed (body withheld); admins keep the original. */
export async function hideMessage(
  ports: AdminPorts,
  identity: Identity,
  input: { messageId: string; reason: string },
): Promise<AdminMessage> {
  const hidden = await ports.store.transaction(async (tx) => {
    const { actor, message } = await tx.loadMessage(identity, input.messageId)
    requireAdmin(actor)
    if (!message) throw new ChatError('not_found', 'Message not found')
    if (message.hidden) throw new ChatError('conflict', 'The message is already removed')
    return hideMessageStep(tx, actor, message.id, input.reason)
  })
  await announceHidden(ports, hidden)
  return hidden.value
}

export interface TrainerAssignment {
  user: AdminUser
  /** The conversation with the assigned trainer (null only if an unchanged assignment never had one). */
  conversation: AdminConversation | null
  /** Conversations with the previous trainer, closed with reason `trainer_reassigned`. */
  closedConversationIds: string[]
}

/**
 * Assign or reassign a member's trainer:
 * 1. the member must be a member (role user) and the trainer an enabled trainer, else 400;
 * 2. assigning the current trainer again changes nothing;
 * 3. otherwise the open conversation with the previous trainer is closed (`trainer_reassigned`),
 *    the assignment changes, and the pair's conversation is reused (open, else the most recent
 *    closed one reopened) or created; all with the audit row, in one transaction;
 * 4. after the commit, the closed conversations' participants hear `conversationClosed`, and the
 *    member's and the new trainer's live connections hear `conversationOpened` (#13).
 */
export async function assignTrainer(
  ports: AdminPorts,
  identity: Identity,
  input: { userId: string; trainerId: string; reason?: string | undefined },
): Promise<TrainerAssignment> {
  const outcome = await ports.store.transaction(async (tx) => {
    const { actor, user, trainer } = await tx.loadUsers(identity, input.userId, input.trainerId)
    requireAdmin(actor)
    if (!user) throw new ChatError('not_found', 'User not found')
    refuseErased(user)
    if (user.role !== 'user') {
      throw new ChatError('bad_request', `Only members have a trainer; this user is a ${user.role}`, { field: 'id', role: user.role })
    }
    if (!trainer || trainer.role !== 'trainer' || trainer.disabledAt !== null) {
      throw new ChatError('bad_request', 'trainerId must name an enabled trainer', {
        field: 'trainerId',
        ...(trainer ? { role: trainer.role, disabled: trainer.disabledAt !== null } : {}),
      })
    }
    if (user.trainerId === trainer.id) {
      const unchanged: TrainerAssignment = {
        user: await tx.user(user.id),
        conversation: await tx.latestConversation(user.id, trainer.id),
        closedConversationIds: [],
      }
      return { assignment: unchanged, closed: [], opened: [] }
    }

    const closed = await tx.closeConversationsOf(user.id, CLOSED_BY_REASSIGNMENT, trainer.id)
    await tx.setTrainer(user.id, trainer.id)
    const opened = await tx.openConversation(user.id, trainer.id)
    const closedConversationIds = closed.map((c) => c.value)
    await tx.record({
      actorId: actor.userId,
      action: 'user.trainer_assigned',
      targetType: 'user',
      targetId: user.id,
      reason: input.reason ?? null,
      details: {
        previousTrainerId: user.trainerId,
        trainerId: trainer.id,
        conversationId: opened.conversationId,
        conversation: opened.outcome,
        closedConversationIds,
      },
    })
    const assignment: TrainerAssignment = {
      user: await tx.user(user.id),
      conversation: await tx.conversation(opened.conversationId),
      closedConversationIds,
    }
    return { assignment, closed, opened: opened.connectionIds }
  })
  for (const { value: conversationId, connectionIds } of outcome.closed) {
    await notify(ports, connectionIds, { type: 'conversationClosed', conversationId, reason: CLOSED_BY_REASSIGNMENT })
  }
  const { conversation } = outcome.assignment
  if (conversation) await notify(ports, outcome.opened, conversationOpened(conversation))
  return outcome.assignment
}

/**
 * Change a user's role:
 * 1. an admin cannot change their own role (so the last admin cannot lock everyone out);
 * 2. the same role again changes nothing;
 * 3. a trainer who still has members keeps the role (409) until they are reassigned;
 * 4. otherwise every open conversation the user takes part in is closed (`role_changed`), a
 *    member who becomes trainer or admin loses their assigned trainer, and their connection
 *    rows are deleted, all with the audit row, in one transaction;
 * 5. after the commit, the closed conversations' participants hear `conversationClosed` and the
 *    user's live connections are closed (DeleteConnection): the new role applies from their
 *    next request or connection.
 */
export async function changeRole(
  ports: AdminPorts,
  identity: Identity,
  input: { userId: string; role: Role; reason?: string | undefined },
): Promise<AdminUser> {
  const outcome = await ports.store.transaction(async (tx) => {
    const { actor, user } = await tx.loadUsers(identity, input.userId)
    requireAdmin(actor)
    if (!user) throw new ChatError('not_found', 'User not found')
    refuseErased(user)
    if (user.role === input.role) return { user: await tx.user(user.id), closed: [], dropped: [] }
    if (user.id === actor.userId) throw new ChatError('conflict', 'Admins cannot change their own role')
    if (user.role === 'trainer' && user.assignedMembers > 0) {
      throw new ChatError('conflict', 'This trainer still has assigned members; reassign them first', {
        assignedMembers: user.assignedMembers,
      })
    }

    const closed = await tx.closeConversationsOf(user.id, CLOSED_BY_ROLE_CHANGE)
    await tx.setRole(user.id, input.role)
    const dropped = await tx.dropConnections(user.id)
    await tx.record({
      actorId: actor.userId,
      action: 'user.role_changed',
      targetType: 'user',
      targetId: user.id,
      reason: input.reason ?? null,
      details: {
        from: user.role,
        to: input.role,
        previousTrainerId: user.trainerId,
        closedConversationIds: closed.map((c) => c.value),
        closedConnections: dropped.length,
      },
    })
    return { user: await tx.user(user.id), closed, dropped }
  })
  for (const { value: conversationId, connectionIds } of outcome.closed) {
    await notify(ports, connectionIds, { type: 'conversationClosed', conversationId, reason: CLOSED_BY_ROLE_CHANGE })
  }
  await disconnectAll(ports, outcome.dropped)
  return outcome.user
}

/**
 * Disable a user's account, or enable it again:
 * 1. an admin cannot disable themselves (so the last admin cannot lock everyone out);
 * 2. the state it already has changes nothing and writes no audit row;
 * 3. otherwise `disabled_at` is set (or cleared) and, when disabling, the user's connection rows
 *    are deleted, all with the audit row, in one transaction;
 * 4. after the commit, the user's live connections are closed (DeleteConnection), as on a role
 *    change. From then on every route refuses them: WebSocket actions answer `unauthorized` and
 *    close the connection, `$connect` is refused, REST answers 403. Their conversations stay as
 *    they are, so an enabled account picks up where it left off.
 */
export async function setUserDisabled(
  ports: AdminPorts,
  identity: Identity,
  input: { userId: string; disabled: boolean; reason?: string | undefined },
): Promise<AdminUser> {
  const outcome = await ports.store.transaction(async (tx) => {
    const { actor, user } = await tx.loadUsers(identity, input.userId)
    requireAdmin(actor)
    if (!user) throw new ChatError('not_found', 'User not found')
    refuseErased(user)
    if ((user.disabledAt !== null) === input.disabled) return { user: await tx.user(user.id), dropped: [] }
    const dropped = await setDisabledStep(tx, actor, user, input.disabled, input.reason ?? null)
    return { user: await tx.user(user.id), dropped }
  })
  await disconnectAll(ports, outcome.dropped)
  return outcome.user
}

/** Closes live connections whose rows the committed transaction deleted (DeleteConnection). */
export async function disconnectAll(ports: Announcer, connectionIds: readonly string[]): Promise<void> {
  await Promise.all(connectionIds.map((connectionId) => ports.delivery.disconnect(connectionId)))
}

async function notify(ports: Announcer, connectionIds: readonly string[], frame: ServerFrame): Promise<void> {
  if (connectionIds.length === 0) return
  const report = await ports.delivery.post(connectionIds.map((connectionId) => ({ connectionId, frame })))
  if (report.failed.length > 0) ports.log.warn('delivery failed for some connections', { failed: report.failed })
  // The other participants hear userLeft / presence for connections found gone (#13).
  await forgetGone(ports, report.gone)
}
