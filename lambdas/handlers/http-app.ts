import * as z from 'zod/mini'
import { createAppQueries } from '../adapters/app-queries.ts'
import { signLastMessages, signMessages } from '../core/attachments.ts'
import { assertAccess } from '../core/chat.ts'
import { ChatError } from '../core/errors.ts'
import { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT } from '../core/protocol.ts'
import { ConversationSummaryView, MessageView, UserView } from '../core/views.ts'
import { db } from '../runtime.ts'
import { attachmentStorage } from '../runtime-attachments.ts'
import { attachmentRoutes } from './http-attachments.ts'
import { httpApi, route, type HttpRoute } from './http-route.ts'
import { notificationRoutes } from './http-notifications.ts'

/** The apps' REST routes (HTTP API, JWT authorizer), one Lambda dispatching on routeKey. */

const queries = () => createAppQueries(db())

const ConversationParams = z.object({ id: z.guid() })
const HistoryQuery = z.object({
  before: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(2_147_483_647))),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(HISTORY_MAX_LIMIT)), HISTORY_DEFAULT_LIMIT),
})

export const appRoutes: HttpRoute[] = [
  route({
    routeKey: 'GET /health',
    auth: 'none',
    summary: 'Liveness and database reachability',
    response: z.object({ status: z.literal('ok') }),
    async handle() {
      if (!(await queries().health())) throw new ChatError('unavailable', 'Database unavailable')
      return { body: { status: 'ok' } }
    },
  }),
  route({
    routeKey: 'GET /openapi.json',
    auth: 'none',
    summary: 'This API described as an OpenAPI 3.1 document',
    async handle() {
      // Loaded and built on first request: the generator stays off every other route's cold start.
      const { restApiDocument } = await import('../openapi.ts')
      return { body: restApiDocument() }
    },
  }),
  route({
    routeKey: 'GET /me',
    auth: 'user',
    summary: "The caller's user",
    response: UserView,
    async handle({ identity }) {
      const me = await queries().me(identity)
      if (!me) throw new ChatError('forbidden', 'This account is disabled')
      return { body: me }
    },
  }),
  route({
    routeKey: 'GET /conversations',
    auth: 'user',
    summary: "The caller's conversations, most recent activity first",
    response: z.object({ conversations: z.array(ConversationSummaryView) }),
    async handle({ identity }) {
      return { body: { conversations: await signLastMessages(attachmentStorage(), await queries().conversations(identity)) } }
    },
  }),
  route({
    routeKey: 'GET /conversations/{id}/messages',
    auth: 'user',
    summary: 'Older messages of a conversation, keyset-paginated by seq',
    params: ConversationParams,
    query: HistoryQuery,
    response: z.object({ messages: z.array(MessageView), hasMore: z.boolean() }),
    async handle({ identity, params, query }) {
      const page = await queries().messages(identity, params.id, query)
      assertAccess(page.verdict, 'read')
      return { body: { messages: await signMessages(attachmentStorage(), page.messages), hasMore: page.hasMore } }
    },
  }),
  ...attachmentRoutes,
  ...notificationRoutes,
]

export const { handle: appApi, handler } = httpApi(appRoutes)
