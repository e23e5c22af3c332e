import { ChatError, requireFound } from '../errors.ts'
import type { Identity, Role } from '../model.ts'
import { type Admin, listPage } from './actor.ts'
import { auditRecord } from './audit.ts'
import type { AdminConversation, AdminUser } from './model.ts'
import { announceAllClosed, announceOpened, disconnectAll } from './notify.ts'
import type { AdminPorts, AdminTransaction, UserFilter, UserState } from './ports.ts'

/**
 * Accounts as admins manage them: list users, assign a member's trainer, change a role, disable
 * or enable an account. Each change writes its audit row inside the request's transaction; live
 * connections hear about it, or are closed, only after the commit (notify.ts).
 */

/** Closing reasons the system writes itself; an admin's own reason is free text. */
export const CLOSED_BY_REASSIGNMENT = 'trainer_reassigned'
export const CLOSED_BY_ROLE_CHANGE = 'role_changed'


export function listUsers(ports: AdminPorts, identity: Identity, filter: UserFilter) {
  return listPage(ports.store, identity, 'users', (tx) => tx.listUsers(filter))
}

/** An erased account is gone for good: no trainer, role or enabling brings it back (docs/privacy.md). */
function refuseErased(user: UserState | null): void {
  if (user?.erasedAt) throw new ChatError('conflict', 'This account was erased', { erasedAt: user.erasedAt })
}

/** The user an admin change targets: it must exist and not be erased. */
function requireChangeable(user: UserState | null): UserState {
  const found = requireFound(user, 'User not found')
  refuseErased(found)
  return found
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
  const outcome = await ports.store.transaction(identity, async (tx, admin) => {
    const loaded = await tx.loadUsers(input.userId, input.trainerId)
    const user = requireChangeable(loaded.user)
    const { trainer } = loaded
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
    await tx.record(
      auditRecord(admin, 'user.trainer_assigned', user.id, input.reason ?? null, {
        previousTrainerId: user.trainerId,
        trainerId: trainer.id,
        conversationId: opened.conversationId,
        conversation: opened.outcome,
        closedConversationIds,
      }),
    )
    const assignment: TrainerAssignment = {
      user: await tx.user(user.id),
      conversation: await tx.conversation(opened.conversationId),
      closedConversationIds,
    }
    return { assignment, closed, opened: opened.connectionIds }
  })
  await announceAllClosed(ports, outcome.closed, CLOSED_BY_REASSIGNMENT)
  const { conversation } = outcome.assignment
  if (conversation) await announceOpened(ports, outcome.opened, conversation)
  return outcome.assignment
}

/**
 * Change a user's role:
 * 1. the same role again changes nothing (an admin naming their own role included);
 * 2. an admin cannot change their own role (so the last admin cannot lock everyone out);
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
  const outcome = await ports.store.transaction(identity, async (tx, admin) => {
    const user = requireChangeable((await tx.loadUsers(input.userId)).user)
    if (user.role === input.role) return { user: await tx.user(user.id), closed: [], dropped: [] }
    if (user.id === admin.userId) throw new ChatError('conflict', 'Admins cannot change their own role')
    if (user.role === 'trainer' && user.assignedMembers > 0) {
      throw new ChatError('conflict', 'This trainer still has assigned members; reassign them first', {
        assignedMembers: user.assignedMembers,
      })
    }

    const closed = await tx.closeConversationsOf(user.id, CLOSED_BY_ROLE_CHANGE)
    await tx.setRole(user.id, input.role)
    const dropped = await tx.dropConnections(user.id)
    await tx.record(
      auditRecord(admin, 'user.role_changed', user.id, input.reason ?? null, {
        from: user.role,
        to: input.role,
        previousTrainerId: user.trainerId,
        closedConversationIds: closed.map((c) => c.value),
        closedConnections: dropped.length,
      }),
    )
    return { user: await tx.user(user.id), closed, dropped }
  })
  await announceAllClosed(ports, outcome.closed, CLOSED_BY_ROLE_CHANGE)
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
  const outcome = await ports.store.transaction(identity, async (tx, admin) => {
    const user = requireChangeable((await tx.loadUsers(input.userId)).user)
    if ((user.disabledAt !== null) === input.disabled) return { user: await tx.user(user.id), dropped: [] }
    const dropped = await setDisabledStep(tx, admin, user, input.disabled, input.reason ?? null)
    return { user: await tx.user(user.id), dropped }
  })
  await disconnectAll(ports, outcome.dropped)
  return outcome.user
}

/**
 * Disables or enables an account whose state differs, deleting a disabled user's connection rows,
 * with the audit row; returns the deleted connections (close them after the commit with
 * `disconnectAll`). An admin cannot disable themselves (so the last admin cannot lock everyone
 * out). Shared with the moderation queue (core/reports.ts).
 */
export async function setDisabledStep(
  tx: AdminTransaction,
  admin: Admin,
  user: Pick<UserState, 'id' | 'role' | 'disabledAt'>,
  disabled: boolean,
  reason: string | null,
): Promise<string[]> {
  if (user.id === admin.userId) throw new ChatError('conflict', 'Admins cannot disable their own account')
  await tx.setDisabled(user.id, disabled)
  const dropped = disabled ? await tx.dropConnections(user.id) : []
  const details = { role: user.role, ...(disabled ? { closedConnections: dropped.length } : { disabledAt: user.disabledAt }) }
  await tx.record(auditRecord(admin, disabled ? 'user.disabled' : 'user.enabled', user.id, reason, details))
  return dropped
}
