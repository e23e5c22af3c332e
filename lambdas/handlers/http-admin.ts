import * as z from 'zod/mini'
import { createAdminStore } from '../adapters/admin-store.ts'
import { log } from '../adapters/logger.ts'
import {
  ActivityKey,
  ADMIN_PAGE_DEFAULT_LIMIT,
  ADMIN_PAGE_MAX_LIMIT,
  AdminConversationView,
  AdminMessageView,
  AdminUserView,
  AuditEntryView,
  assignTrainer,
  changeRole,
  closeConversation,
  conversationHistory,
  cursorOf,
  EmailKey,
  hideMessage,
  listAudit,
  listConversations,
  listUsers,
  MAX_REASON_CHARS,
  reopenConversation,
  setUserDisabled,
  type AdminPorts,
} from '../core/admin.ts'
import { ROLES } from '../core/model.ts'
import { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT } from '../core/protocol.ts'
import { Id } from '../core/views.ts'
import { db, websocketDelivery } from '../runtime.ts'
import { httpApi, route, type HttpRoute } from './http-route.ts'

/**
 * The admin and moderation REST routes (HTTP API, JWT authorizer), one Lambda dispatching on
 * routeKey. The gateway only proves the token is valid; each use case checks the caller's role
 * in the database, in the transaction that does the work.
 */

const ports = (): AdminPorts => ({ store: createAdminStore(db()), delivery: websocketDelivery(), log })

const limit = (fallback: number, max: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(max)), fallback)
const pageLimit = limit(ADMIN_PAGE_DEFAULT_LIMIT, ADMIN_PAGE_MAX_LIMIT)
const Reason = z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_REASON_CHARS))

const IdParams = z.object({ id: Id })

const ConversationListQuery = z.object({
  status: z.optional(z.enum(['open', 'closed'])),
  trainerId: z.optional(Id),
  /** The member's id. */
  userId: z.optional(Id),
  limit: pageLimit,
  cursor: z.optional(cursorOf(ActivityKey)),
})
const HistoryQuery = z.object({
  before: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(2_147_483_647))),
  limit: limit(HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT),
})
const UserListQuery = z.object({ role: z.optional(z.enum(ROLES)), limit: pageLimit, cursor: z.optional(cursorOf(EmailKey)) })
const AuditQuery = z.object({ limit: pageLimit, cursor: z.optional(cursorOf(ActivityKey)) })

const ReasonBody = z.object({ reason: Reason })
const AssignTrainerBody = z.object({ trainerId: Id, reason: z.optional(Reason) })
const ChangeRoleBody = z.object({ role: z.enum(ROLES), reason: z.optional(Reason) })
const SetDisabledBody = z.object({ disabled: z.boolean(), reason: z.optional(Reason) })

const nextCursor = z.nullable(z.string())

export const adminRoutes: HttpRoute[] = [
  route({
    routeKey: 'GET /admin/conversations',
    auth: 'admin',
    summary: 'All conversations, most recent activity first, keyset-paginated',
    query: ConversationListQuery,
    response: z.object({ conversations: z.array(AdminConversationView), nextCursor }),
    async handle({ identity, query }) {
      const { cursor, userId, ...filter } = query
      return { body: await listConversations(ports(), identity, { ...filter, memberId: userId, after: cursor }) }
    },
  }),
  route({
    routeKey: 'GET /admin/conversations/{id}/messages',
    auth: 'admin',
    summary: 'Full history of any conversation, including removed messages with who removed them and why',
    params: IdParams,
    query: HistoryQuery,
    response: z.object({ messages: z.array(AdminMessageView), hasMore: z.boolean() }),
    async handle({ identity, params, query }) {
      return { body: await conversationHistory(ports(), identity, { conversationId: params.id, ...query }) }
    },
  }),
  route({
    routeKey: 'POST /admin/conversations/{id}/close',
    auth: 'admin',
    summary: 'Closes a conversation (read-only for its participants, who are told at once)',
    params: IdParams,
    body: ReasonBody,
    response: AdminConversationView,
    errors: ['conflict'],
    async handle({ identity, params, body }) {
      return { body: await closeConversation(ports(), identity, { conversationId: params.id, reason: body.reason }) }
    },
  }),
  route({
    routeKey: 'POST /admin/conversations/{id}/reopen',
    auth: 'admin',
    summary: 'Reopens a closed conversation',
    params: IdParams,
    response: AdminConversationView,
    errors: ['conflict'],
    async handle({ identity, params }) {
      return { body: await reopenConversation(ports(), identity, { conversationId: params.id }) }
    },
  }),
  route({
    routeKey: 'GET /admin/users',
    auth: 'admin',
    summary: 'Users with their role and assigned trainer, ordered by email, keyset-paginated',
    query: UserListQuery,
    response: z.object({ users: z.array(AdminUserView), nextCursor }),
    async handle({ identity, query }) {
      const { cursor, ...filter } = query
      return { body: await listUsers(ports(), identity, { ...filter, after: cursor }) }
    },
  }),
  route({
    routeKey: 'PUT /admin/users/{id}/trainer',
    auth: 'admin',
    summary: "Assigns or reassigns a member's trainer; the conversation with the previous trainer is closed",
    params: IdParams,
    body: AssignTrainerBody,
    response: z.object({
      user: AdminUserView,
      conversation: z.nullable(AdminConversationView),
      closedConversationIds: z.array(Id),
    }),
    async handle({ identity, params, body }) {
      return { body: await assignTrainer(ports(), identity, { userId: params.id, ...body }) }
    },
  }),
  route({
    routeKey: 'PUT /admin/users/{id}/role',
    auth: 'admin',
    summary: "Changes a user's role; their live connections are closed so it applies at once",
    params: IdParams,
    body: ChangeRoleBody,
    response: AdminUserView,
    errors: ['conflict'],
    async handle({ identity, params, body }) {
      return { body: await changeRole(ports(), identity, { userId: params.id, ...body }) }
    },
  }),
  route({
    routeKey: 'PUT /admin/users/{id}/disabled',
    auth: 'admin',
    summary: "Disables or re-enables a user's account; a disabled user's live connections are closed at once",
    params: IdParams,
    body: SetDisabledBody,
    response: AdminUserView,
    errors: ['conflict'],
    async handle({ identity, params, body }) {
      return { body: await setUserDisabled(ports(), identity, { userId: params.id, ...body }) }
    },
  }),
  route({
    routeKey: 'DELETE /admin/messages/{id}',
    auth: 'admin',
    summary: 'Removes a message: participants see it as removed, admins still see the original',
    params: IdParams,
    body: ReasonBody,
    response: AdminMessageView,
    errors: ['conflict'],
    async handle({ identity, params, body }) {
      return { body: await hideMessage(ports(), identity, { messageId: params.id, reason: body.reason }) }
    },
  }),
  route({
    routeKey: 'GET /admin/audit',
    auth: 'admin',
    summary: 'Every admin action, most recent first: who, what, when and why',
    query: AuditQuery,
    response: z.object({ entries: z.array(AuditEntryView), nextCursor }),
    async handle({ identity, query }) {
      return { body: await listAudit(ports(), identity, { limit: query.limit, after: query.cursor }) }
    },
  }),
]

export const { handle: adminApi, handler } = httpApi(adminRoutes)
