import * as z from 'zod/mini'
import type { ErrorCode } from '../core/errors.ts'
import {
  AdminConversationView,
  AdminReportView,
  ConversationSearchQuery,
  ReportBody,
  ReportListQuery,
  ReportView,
  ResolveReportBody,
  SearchPageView,
  SearchQuery,
  AdminMessageView,
  AdminUserView,
  AssignTrainerBody,
  AuditEntryView,
  AuditQuery,
  ChangeRoleBody,
  ConversationListQuery,
  ConversationSummaryView,
  DeviceParams,
  DeviceRequest,
  DeviceView,
  HistoryQuery,
  Id,
  IdParams,
  MessageView,
  Muted,
  PresenceVisibility,
  NextCursor,
  ReasonBody,
  SetDisabledBody,
  UploadRequest,
  UploadView,
  UserListQuery,
  UserView,
  lazy,
} from './schemas.ts'
import { ErasureView, ExportDocumentView, ExportMessagesQuery, ExportMessagesView, ExportQuery } from './privacy-schemas.ts'

/**
 * Every REST route, declared once as data: its route key, who may call it, its schemas and what
 * it does. The handlers implement these (lambdas/handlers/http-app.ts, http-admin.ts), the CDK
 * HTTP API and the local HTTP gateway deploy them, and the OpenAPI document describes them.
 */

/**
 * - `public`: no authorizer (health check, OpenAPI document).
 * - `user`: any token the JWT authorizer verified (signature, issuer, audience, expiry).
 * - `admin`: the same authorizer; the admin role is enforced by the handler against the database
 *   (see "Admin routes" in docs/deploy.md for why not at the gateway).
 */
export type HttpAccess = 'public' | 'user' | 'admin'

type Schema = z.ZodMiniType

export interface HttpRouteDeclaration {
  /** API Gateway's route key: `METHOD /path/{param}`. */
  readonly key: `${'GET' | 'POST' | 'PUT' | 'DELETE'} /${string}`
  readonly access: HttpAccess
  /** The Lambda function (lambdas/handlers/<name>.ts) that serves it. */
  readonly handler: 'http-app' | 'http-admin'
  readonly summary: string
  readonly params?: Schema
  readonly query?: Schema
  readonly body?: Schema
  /** Schema of the success body (for the OpenAPI document; responses are not validated). */
  readonly response?: Schema
  readonly successStatus?: number
  /**
   * Refusals particular to this route, for the OpenAPI document. The ones every route of its
   * kind can give (400 for invalid input, 401/403 when authenticated, 404 for path ids) are implied.
   */
  readonly errors?: readonly ErrorCode[]
}

type SchemaField = 'params' | 'query' | 'body' | 'response'
const SCHEMA_FIELDS: readonly SchemaField[] = ['params', 'query', 'body', 'response']

/** A declaration as written below: each schema as the function that builds it. */
type LazyDeclaration = Omit<HttpRouteDeclaration, SchemaField> & { readonly [F in SchemaField]?: () => Schema }

/** The declaration `route` makes of it: each schema a property again, built when first read. */
type Declared<D extends LazyDeclaration> = { readonly [K in keyof D]: K extends SchemaField ? (D[K] extends () => infer S ? S : never) : D[K] }

/**
 * A route's declaration whose schemas are built the first time they are read, then kept, so
 * loading this module builds none: a cold start builds no schema, and a request only its own
 * route's. Everything else is the plain data it was given, and reading `params` (or `query`,
 * `body`, `response`) gives the same schema every time.
 */
function route<const D extends LazyDeclaration>(declaration: D): Declared<D> {
  const declared: Record<string, unknown> = { ...declaration }
  for (const field of SCHEMA_FIELDS) {
    const build = declaration[field]
    if (build) Object.defineProperty(declared, field, { get: lazy(build), enumerable: true })
  }
  return declared as Declared<D>
}

const app = 'http-app'
const admin = 'http-admin'

export const HTTP_ROUTES = {
  health: route({
    key: 'GET /health',
    access: 'public',
    handler: app,
    summary: 'Liveness and database reachability',
    response: () => z.object({ status: z.literal('ok') }),
  }),
  openApi: route({
    key: 'GET /openapi.json',
    access: 'public',
    handler: app,
    summary: 'This API described as an OpenAPI 3.1 document',
  }),
  me: route({ key: 'GET /me', access: 'user', handler: app, summary: "The caller's user", response: UserView }),
  conversations: route({
    key: 'GET /conversations',
    access: 'user',
    handler: app,
    summary: "The caller's conversations, most recent activity first",
    response: () => z.object({ conversations: z.array(ConversationSummaryView()) }),
  }),
  history: route({
    key: 'GET /conversations/{id}/messages',
    access: 'user',
    handler: app,
    summary: 'Older messages of a conversation, keyset-paginated by seq',
    params: IdParams,
    query: HistoryQuery,
    response: () => z.object({ messages: z.array(MessageView()), hasMore: z.boolean() }),
  }),
  requestUpload: route({
    key: 'POST /conversations/{id}/attachments',
    access: 'user',
    handler: app,
    summary:
      'A presigned upload URL for one file to send in the conversation: PUT the bytes with exactly the returned headers before the URL expires, then send a message with attachmentId',
    params: IdParams,
    body: UploadRequest,
    response: UploadView,
    successStatus: 201,
    errors: ['conversation_closed'],
  }),
  registerDevice: route({
    key: 'POST /devices',
    access: 'user',
    handler: app,
    summary: "Registers the caller's phone for push notifications (idempotent; a token registered by someone else moves to the caller)",
    body: DeviceRequest,
    response: DeviceView,
    errors: ['unavailable'],
  }),
  devices: route({
    key: 'GET /devices',
    access: 'user',
    handler: app,
    summary: "The caller's registered devices",
    response: () => z.object({ devices: z.array(DeviceView()) }),
  }),
  removeDevice: route({
    key: 'DELETE /devices/{token}',
    access: 'user',
    handler: app,
    summary: "Unregisters one of the caller's devices",
    params: DeviceParams,
    successStatus: 204,
    errors: ['unavailable'],
  }),
  notificationSettings: route({
    key: 'GET /me/notifications',
    access: 'user',
    handler: app,
    summary: 'Whether the caller muted all notifications, and which conversations they muted',
    response: () => z.object({ muted: z.boolean(), mutedConversationIds: z.array(Id()) }),
  }),
  muteAll: route({
    key: 'PUT /me/notifications',
    access: 'user',
    handler: app,
    summary: 'Mutes or unmutes every push notification for the caller',
    body: Muted,
    response: Muted,
  }),
  muteConversation: route({
    key: 'PUT /conversations/{id}/notifications',
    access: 'user',
    handler: app,
    summary: 'Mutes or unmutes push notifications for one conversation',
    params: IdParams,
    body: Muted,
    response: () => z.object({ conversationId: Id(), muted: z.boolean() }),
  }),
  exportMe: route({
    key: 'GET /me/export',
    access: 'user',
    handler: app,
    summary:
      "Everything stored about the caller (docs/privacy.md): profile, conversations with read state, devices without tokens, mutes, unsent uploads, account history, and the first page of their messages; follow nextCursor on GET /me/export/messages",
    query: ExportQuery,
    response: ExportDocumentView,
  }),
  exportMessages: route({
    key: 'GET /me/export/messages',
    access: 'user',
    handler: app,
    summary: "The next page of the caller's export: messages they sent and received, in (conversation, seq) order, with attachment download URLs",
    query: ExportMessagesQuery,
    response: ExportMessagesView,
  }),
  setPresence: route({
    key: 'PUT /me/presence',
    access: 'user',
    handler: app,
    summary: 'Shares or hides the caller\'s presence: hidden, they always appear offline with no last-seen time',
    body: PresenceVisibility,
    response: PresenceVisibility,
  }),

  adminConversations: route({
    key: 'GET /admin/conversations',
    access: 'admin',
    handler: admin,
    summary: 'All conversations, most recent activity first, keyset-paginated',
    query: ConversationListQuery,
    response: () => z.object({ conversations: z.array(AdminConversationView()), nextCursor: NextCursor() }),
  }),
  adminHistory: route({
    key: 'GET /admin/conversations/{id}/messages',
    access: 'admin',
    handler: admin,
    summary: 'Full history of any conversation, including removed messages with who removed them and why',
    params: IdParams,
    query: HistoryQuery,
    response: () => z.object({ messages: z.array(AdminMessageView()), hasMore: z.boolean() }),
  }),
  closeConversation: route({
    key: 'POST /admin/conversations/{id}/close',
    access: 'admin',
    handler: admin,
    summary: 'Closes a conversation (read-only for its participants, who are told at once)',
    params: IdParams,
    body: ReasonBody,
    response: AdminConversationView,
    errors: ['conflict'],
  }),
  reopenConversation: route({
    key: 'POST /admin/conversations/{id}/reopen',
    access: 'admin',
    handler: admin,
    summary: 'Reopens a closed conversation',
    params: IdParams,
    response: AdminConversationView,
    errors: ['conflict'],
  }),
  adminUsers: route({
    key: 'GET /admin/users',
    access: 'admin',
    handler: admin,
    summary: 'Users with their role and assigned trainer, ordered by email, keyset-paginated',
    query: UserListQuery,
    response: () => z.object({ users: z.array(AdminUserView()), nextCursor: NextCursor() }),
  }),
  assignTrainer: route({
    key: 'PUT /admin/users/{id}/trainer',
    access: 'admin',
    handler: admin,
    summary: "Assigns or reassigns a member's trainer; the conversation with the previous trainer is closed",
    params: IdParams,
    body: AssignTrainerBody,
    response: () => z.object({
      user: AdminUserView(),
      conversation: z.nullable(AdminConversationView()),
      closedConversationIds: z.array(Id()),
    }),
  }),
  changeRole: route({
    key: 'PUT /admin/users/{id}/role',
    access: 'admin',
    handler: admin,
    summary: "Changes a user's role; their live connections are closed so it applies at once",
    params: IdParams,
    body: ChangeRoleBody,
    response: AdminUserView,
    errors: ['conflict'],
  }),
  setDisabled: route({
    key: 'PUT /admin/users/{id}/disabled',
    access: 'admin',
    handler: admin,
    summary: "Disables or re-enables a user's account; a disabled user's live connections are closed at once",
    params: IdParams,
    body: SetDisabledBody,
    response: AdminUserView,
    errors: ['conflict'],
  }),
  hideMessage: route({
    key: 'DELETE /admin/messages/{id}',
    access: 'admin',
    handler: admin,
    summary: 'Removes a message: participants see it as removed, admins still see the original',
    params: IdParams,
    body: ReasonBody,
    response: AdminMessageView,
    errors: ['conflict'],
  }),
  audit: route({
    key: 'GET /admin/audit',
    access: 'admin',
    handler: admin,
    summary: 'Every admin action, most recent first: who, what, when and why',
    query: AuditQuery,
    response: () => z.object({ entries: z.array(AuditEntryView()), nextCursor: NextCursor() }),
  }),
  eraseUser: route({
    key: 'POST /admin/users/{id}/erase',
    access: 'admin',
    handler: admin,
    summary:
      "Erases a user (docs/privacy.md): profile anonymised, their messages' bodies and attachments deleted, devices and push endpoints removed, connections closed, sign-in refused for good; the other participant's messages stay",
    params: IdParams,
    body: ReasonBody,
    response: ErasureView,
    errors: ['conflict'],
  }),

  searchConversation: route({
    key: 'GET /conversations/{id}/messages/search',
    access: 'user',
    handler: app,
    summary:
      "Full-text search of one conversation's messages (websearch syntax: quoted phrases, or, -word), newest first, each hit with a plain-text snippet and its highlighted ranges; removed and deleted messages are never found",
    params: IdParams,
    query: ConversationSearchQuery,
    response: SearchPageView,
  }),
  search: route({
    key: 'GET /search',
    access: 'user',
    handler: app,
    summary:
      "Full-text search across every conversation the caller may read (a trainer: their members' conversations), newest first; admins take part in none and find nothing here",
    query: SearchQuery,
    response: SearchPageView,
  }),
  reportMessage: route({
    key: 'POST /messages/{id}/report',
    access: 'user',
    handler: app,
    summary: "Reports a message of a conversation the caller takes part in to the moderators; one open report per user per message",
    params: IdParams,
    body: ReportBody,
    response: ReportView,
    successStatus: 201,
    errors: ['conflict'],
  }),
  adminReports: route({
    key: 'GET /admin/reports',
    access: 'admin',
    handler: admin,
    summary: 'Reports, newest first, with the message as moderators see it, its conversation, the reporter and the resolution; keyset-paginated',
    query: ReportListQuery,
    response: () => z.object({ reports: z.array(AdminReportView()), nextCursor: NextCursor() }),
  }),
  resolveReport: route({
    key: 'POST /admin/reports/{id}/resolve',
    access: 'admin',
    handler: admin,
    summary:
      "Resolves an open report with an action (dismiss, hide the message, close its conversation, disable its sender), taken and recorded in the same transaction",
    params: IdParams,
    body: ResolveReportBody,
    response: AdminReportView,
    errors: ['conflict'],
  }),
} as const satisfies Record<string, HttpRouteDeclaration>

export type HttpRouteName = keyof typeof HTTP_ROUTES
export type HttpHandlerName = HttpRouteDeclaration['handler']

/** Every declaration with its name, in declaration order (the OpenAPI document's order). */
export const httpRoutes = (): Array<HttpRouteDeclaration & { name: HttpRouteName }> =>
  (Object.entries(HTTP_ROUTES) as Array<[HttpRouteName, HttpRouteDeclaration]>).map(([name, route]) => ({ ...route, name }))

/** `GET /conversations/{id}/messages` → `{ method: 'GET', path: '/conversations/{id}/messages' }`. */
export function splitRouteKey(key: HttpRouteDeclaration['key']): { method: string; path: string } {
  const space = key.indexOf(' ')
  return { method: key.slice(0, space), path: key.slice(space + 1) }
}
