import type { MiddlewareObj } from '@middy/core'
import type { Kysely } from 'kysely'
import { createAdminStore } from '../adapters/admin-store.ts'
import type { Database } from '../adapters/database-schema.ts'
import { createErasureStore } from '../adapters/privacy-store.ts'
import { createReportStore } from '../adapters/report-store.ts'
import { config } from '../config.ts'
import { listAudit } from '../core/admin/audit.ts'
import { closeConversation, conversationHistory, hideMessage, listConversations, reopenConversation } from '../core/admin/conversations.ts'
import type { AdminPorts } from '../core/admin/ports.ts'
import { assignTrainer, changeRole, listUsers, setUserDisabled } from '../core/admin/users.ts'
import { eraseUser, type ErasurePorts } from '../core/privacy.ts'
import { listReports, resolveReport, type ReportStore } from '../core/reports.ts'
import { encodeCursor } from '../http/schemas.ts'
import { httpApi } from '../http/toolkit.ts'
import type { TokenAgePolicy } from '../core/identity.ts'
import { attachmentStorage } from '../wiring/attachments.ts'
import { createBase, tokenAgePolicy, type Base } from '../wiring/base.ts'
import { lambdaDatabase } from '../wiring/database.ts'
import { websocketDelivery } from '../wiring/delivery.ts'
import { pushNotifier } from '../wiring/push.ts'

/**
 * The admin and moderation REST routes (declared in lambdas/http/routes.ts), one Lambda
 * dispatching on routeKey. The gateway only proves the token is valid; each request's transaction
 * checks the caller's role in the database once, before the work (core/admin/actor.ts).
 */
/** The admin ports, the erasure ports and the report store (the moderation queue's statements beside the admin ones). */
export interface AdminApiPorts extends AdminPorts {
  /** Erasure also reaches S3 and SNS (core/privacy.ts). */
  erasure: ErasurePorts
  reports: ReportStore
  tokenAge?: TokenAgePolicy
}

export function createAdminApi(ports: AdminApiPorts, middlewares: MiddlewareObj[] = []) {
  const reportPorts = { store: ports.reports, delivery: ports.delivery, log: ports.log }
  return httpApi(
    'http-admin',
    {
      async adminConversations({ identity, query }) {
        const { cursor, userId, ...filter } = query
        const page = await listConversations(ports, identity, { ...filter, memberId: userId, after: cursor })
        return { body: { conversations: page.conversations, nextCursor: encodeCursor(page.nextKey) } }
      },
      async adminHistory({ identity, params, query }) {
        return { body: await conversationHistory(ports, identity, { conversationId: params.id, ...query }) }
      },
      async closeConversation({ identity, params, body }) {
        return { body: await closeConversation(ports, identity, { conversationId: params.id, reason: body.reason }) }
      },
      async reopenConversation({ identity, params }) {
        return { body: await reopenConversation(ports, identity, { conversationId: params.id }) }
      },
      async adminUsers({ identity, query }) {
        const { cursor, ...filter } = query
        const page = await listUsers(ports, identity, { ...filter, after: cursor })
        return { body: { users: page.users, nextCursor: encodeCursor(page.nextKey) } }
      },
      async assignTrainer({ identity, params, body }) {
        return { body: await assignTrainer(ports, identity, { userId: params.id, ...body }) }
      },
      async changeRole({ identity, params, body }) {
        return { body: await changeRole(ports, identity, { userId: params.id, ...body }) }
      },
      async setDisabled({ identity, params, body }) {
        return { body: await setUserDisabled(ports, identity, { userId: params.id, ...body }) }
      },
      async hideMessage({ identity, params, body }) {
        return { body: await hideMessage(ports, identity, { messageId: params.id, reason: body.reason }) }
      },
      async audit({ identity, query }) {
        const page = await listAudit(ports, identity, { limit: query.limit, after: query.cursor })
        return { body: { entries: page.entries, nextCursor: encodeCursor(page.nextKey) } }
      },
      async eraseUser({ identity, params, body }) {
        return { body: await eraseUser(ports.erasure, identity, { userId: params.id, reason: body.reason }) }
      },
      async adminReports({ identity, query }) {
        const page = await listReports(reportPorts, identity, { status: query.status, limit: query.limit, after: query.cursor })
        return { body: { reports: page.reports, nextCursor: encodeCursor(page.nextKey) } }
      },
      async resolveReport({ identity, params, body }) {
        return { body: await resolveReport(reportPorts, identity, { reportId: params.id, ...body }) }
      },
    },
    ports,
    middlewares,
  )
}

export function adminPorts(base: Base, db: Kysely<Database>): AdminApiPorts & { tokenAge: TokenAgePolicy } {
  const delivery = websocketDelivery(base)
  return {
    store: createAdminStore(db),
    reports: createReportStore(db),
    delivery,
    log: base.log,
    erasure: { store: createErasureStore(db), storage: attachmentStorage(base), push: pushNotifier(base), delivery, log: base.log },
    tokenAge: tokenAgePolicy(base.config),
  }
}

const base = createBase(config())
export const { handle: adminApi, handler } = createAdminApi(adminPorts(base, lambdaDatabase(base)), base.middlewares)
