import type { MiddlewareObj } from '@middy/core'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { Kysely } from 'kysely'
import { createAppQueries } from '../adapters/app-queries.ts'
import { createAttachmentStore } from '../adapters/attachment-store.ts'
import type { Database } from '../adapters/database-schema.ts'
import { createDeviceStore } from '../adapters/device-store.ts'
import { createPrivacyQueries } from '../adapters/privacy-store.ts'
import { createReportStore } from '../adapters/report-store.ts'
import { createSearchStore } from '../adapters/search-store.ts'
import { config } from '../config.ts'
import { signLastMessages, signMessages, type AttachmentPolicy } from '../core/attachments.ts'
import { assertAccess } from '../core/chat.ts'
import { ChatError } from '../core/errors.ts'
import { exportDocument, exportMessages } from '../core/privacy.ts'
import type { AttachmentStorage, Delivery, Log } from '../core/ports.ts'
import { onlineFrames, postPresence } from '../core/presence.ts'
import { registerDevice, removeDevice, type PushPorts } from '../core/push.ts'
import { fileReport } from '../core/reports.ts'
import { searchConversation, searchEverywhere } from '../core/search.ts'
import { requestUpload } from '../core/uploads.ts'
import { restApiDocument } from '../http/openapi.ts'
import { encodeExportCursor } from '../http/privacy-schemas.ts'
import { encodeCursor } from '../http/schemas.ts'
import { httpApi } from '../http/toolkit.ts'
import { attachmentPolicy, attachmentStorage } from '../wiring/attachments.ts'
import type { TokenAgePolicy } from '../core/identity.ts'
import { createBase, tokenAgePolicy, type Base } from '../wiring/base.ts'
import { lambdaDatabase } from '../wiring/database.ts'
import { websocketDelivery } from '../wiring/delivery.ts'
import { pushNotifier } from '../wiring/push.ts'

/** The apps' REST routes (declared in lambdas/http/routes.ts), one Lambda dispatching on routeKey. */

export interface AppPorts {
  db: Kysely<Database>
  storage: AttachmentStorage
  policy: AttachmentPolicy
  /** Undefined when push is not configured: the device routes then answer `unavailable`. */
  push: PushPorts | undefined
  /** Tells the other participants when the caller shows or hides their presence (PUT /me/presence). */
  delivery: Delivery<ServerFrame>
  log: Log
  /** The token age rule for the claims API Gateway verified (default: 24 h, 30 s tolerance). */
  tokenAge?: TokenAgePolicy
}

export function createAppApi(ports: AppPorts, middlewares: MiddlewareObj[] = []) {
  const queries = createAppQueries(ports.db)
  const devices = createDeviceStore(ports.db)
  const exports = { queries: createPrivacyQueries(ports.db), storage: ports.storage }
  const uploads = { store: createAttachmentStore(ports.db), storage: ports.storage, policy: ports.policy, log: ports.log }
  const search = createSearchStore(ports.db)
  const reports = createReportStore(ports.db)

  return httpApi(
    'http-app',
    {
      async health() {
        if (!(await queries.health())) throw new ChatError('unavailable', 'Database unavailable')
        return { body: { status: 'ok' } }
      },
      async openApi() {
        // Built on first request (restApiDocument keeps it). Imported statically: the bundle is one
        // file either way, and a dynamic import only made esbuild wrap openapi.ts and all it
        // imports (zod, the route declarations, the protocol) in lazy module initialisers, which
        // cost the cold start more than the generator's few top-level constants.
        return { body: restApiDocument() }
      },
      async me({ identity }) {
        const me = await queries.me(identity)
        if (!me) throw new ChatError('forbidden', 'This account is disabled')
        return { body: me }
      },
      async conversations({ identity }) {
        return { body: { conversations: await signLastMessages(ports.storage, await queries.conversations(identity)) } }
      },
      async history({ identity, params, query }) {
        const page = await queries.messages(identity, params.id, query)
        assertAccess(page.verdict, 'read')
        return { body: { messages: await signMessages(ports.storage, page.messages), hasMore: page.hasMore } }
      },
      async requestUpload({ identity, params, body }) {
        const { attachmentId, url, method, headers, expiresAt } = await requestUpload(uploads, identity, params.id, body)
        return { body: { attachmentId, uploadUrl: url, method, headers, expiresAt } }
      },
      async registerDevice({ identity, body }) {
        return { body: await registerDevice(ports.push, identity, body, ports.log) }
      },
      async devices({ identity }) {
        return { body: { devices: await devices.list(identity) } }
      },
      async removeDevice({ identity, params }) {
        await removeDevice(ports.push, identity, params.token, ports.log)
        return { status: 204, body: undefined }
      },
      async notificationSettings({ identity }) {
        return { body: await devices.notificationSettings(identity) }
      },
      async muteAll({ identity, body }) {
        await devices.setMuted(identity, body.muted)
        return { body: { muted: body.muted } }
      },
      async muteConversation({ identity, params, body }) {
        assertAccess(await devices.setConversationMuted(identity, params.id, body.muted), 'read')
        return { body: { conversationId: params.id, muted: body.muted } }
      },
      async exportMe({ identity, query }) {
        const { nextKey, ...document } = await exportDocument(exports, identity, query.limit)
        return { body: { ...document, nextCursor: encodeExportCursor(nextKey) } }
      },
      async exportMessages({ identity, query }) {
        const page = await exportMessages(exports, identity, { limit: query.limit, after: query.cursor })
        return { body: { messages: page.messages, nextCursor: encodeExportCursor(page.nextKey) } }
      },
      async setPresence({ identity, body }) {
        const change = await queries.setPresence(identity, body.visible)
        if (!change) throw new ChatError('forbidden', 'This account is disabled')
        // A connected user who hides presence goes offline for the others (with no last-seen
        // time); one who shares it again comes online. A post that fails changes nothing stored.
        const outgoing = onlineFrames(change.userId, change.audiences).map(({ connectionId, frame }) => ({
          connectionId,
          frame: body.visible ? frame : { ...frame, online: false },
        }))
        await postPresence(ports, outgoing)
        return { body: { visible: body.visible } }
      },
      async searchConversation({ identity, params, query }) {
        const page = await searchConversation(search, identity, { conversationId: params.id, ...query })
        return { body: { hits: page.hits, nextCursor: encodeCursor(page.nextKey) } }
      },
      async search({ identity, query }) {
        const page = await searchEverywhere(search, identity, query)
        return { body: { hits: page.hits, nextCursor: encodeCursor(page.nextKey) } }
      },
      async reportMessage({ identity, params, body }) {
        return { status: 201, body: await fileReport(reports, identity, { messageId: params.id, ...body }) }
      },
    },
    ports,
    middlewares,
  )
}

export function appPorts(base: Base, db: Kysely<Database>): AppPorts {
  const notifier = pushNotifier(base)
  return {
    db,
    storage: attachmentStorage(base),
    policy: attachmentPolicy(base),
    push: notifier ? { notifier, devices: createDeviceStore(db) } : undefined,
    delivery: websocketDelivery(base),
    log: base.log,
    tokenAge: tokenAgePolicy(base.config),
  }
}

const base = createBase(config())
export const { handle: appApi, handler } = createAppApi(appPorts(base, lambdaDatabase(base)), base.middlewares)
