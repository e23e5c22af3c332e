import type { Kysely } from 'kysely'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { createAttachmentStore } from '../lambdas/adapters/attachment-store.ts'
import { createErasureStore } from '../lambdas/adapters/privacy-store.ts'
import { createTokenVerifier } from '../lambdas/adapters/jwt.ts'
import type { Config } from '../lambdas/config.ts'
import { createThrottle } from '../lambdas/core/throttle.ts'
import { createSweepHandler } from '../lambdas/handlers/attachments-sweep.ts'
import { adminPorts, createAdminApi } from '../lambdas/handlers/http-admin.ts'
import { appPorts, createAppApi } from '../lambdas/handlers/http-app.ts'
import { createAuthorizer } from '../lambdas/handlers/ws-authorizer.ts'
import { createConnectHandler } from '../lambdas/handlers/ws-connect.ts'
import { createDefaultHandler } from '../lambdas/handlers/ws-default.ts'
import { createDisconnectHandler } from '../lambdas/handlers/ws-disconnect.ts'
import { createJoinConversationHandler, joinPorts } from '../lambdas/handlers/ws-join-conversation.ts'
import { createLeaveConversationHandler } from '../lambdas/handlers/ws-leave-conversation.ts'
import { createMarkAsReadHandler } from '../lambdas/handlers/ws-mark-as-read.ts'
import { createSendMessageHandler, sendMessagePorts } from '../lambdas/handlers/ws-send-message.ts'
import { createTypingHandler } from '../lambdas/handlers/ws-typing.ts'
import { createEditMessageHandler, editMessagePorts } from '../lambdas/handlers/ws-edit-message.ts'
import { createDeleteMessageHandler } from '../lambdas/handlers/ws-delete-message.ts'
import { createReactHandler, reactPorts } from '../lambdas/handlers/ws-react.ts'
import type { WebSocketHandlerName } from '../lambdas/websocket/routes.ts'
import { attachmentPolicy, attachmentStorage } from '../lambdas/wiring/attachments.ts'
import { createBase } from '../lambdas/wiring/base.ts'
import { chatPorts, chatStore } from '../lambdas/wiring/database.ts'
import { websocketDelivery } from '../lambdas/wiring/delivery.ts'
import { pushNotifier } from '../lambdas/wiring/push.ts'
import type { LambdaHandler } from '@trainer-chat/aws-edge'

/**
 * Everything of lambdas/ that the local stack invokes or configures, in one module so that a
 * reload can load a fresh copy of all of it at once (see reload.ts): the factories every
 * handler is built with, the configuration parser, the token verifier and the migrator.
 */
export { parseConfig } from '../lambdas/config.ts'
export { migrateToLatest } from '../lambdas/adapters/migrator.ts'
export { httpRoutes } from '../lambdas/http/routes.ts'
export { WEBSOCKET_ROUTES } from '../lambdas/websocket/routes.ts'

/** Every Lambda handler of the stack, by function name, as the gateways invoke them. */
export type LocalHandlers = Record<WebSocketHandlerName | 'ws-authorizer' | 'http-app' | 'http-admin' | 'attachments-sweep', LambdaHandler>

export type TokenVerifier = ReturnType<typeof createTokenVerifier>

export interface BuiltFunctions {
  handlers: LocalHandlers
  /** The HTTP gateway's verifier for JWT-protected routes, from the same settings. */
  verifier: TokenVerifier
}

/** The same factories Lambda's handler modules bind at module scope, over this stack's database and settings. */
export function buildHandlers(
  config: Config,
  db: Kysely<Database>,
  credentials: { accessKeyId: string; secretAccessKey: string },
): BuiltFunctions {
  const verifier = createTokenVerifier(config.jwt)
  const base = createBase(config, { credentials, lambda: false })
  const chat = chatPorts(base, db)
  const handlers: LocalHandlers = {
    'ws-authorizer': createAuthorizer({ verifier, allowedOrigins: config.allowedOrigins, log: base.log }),
    'ws-connect': createConnectHandler({
      store: chatStore(base, db),
      delivery: chat.delivery,
      log: base.log,
      maxConnectionsPerUser: config.maxConnectionsPerUser,
    }),
    'ws-disconnect': createDisconnectHandler(chat),
    'ws-default': createDefaultHandler({ delivery: websocketDelivery(base), log: base.log }),
    'ws-send-message': createSendMessageHandler(sendMessagePorts(base, db)),
    'ws-typing': createTypingHandler({ ...chat, typingThrottle: createThrottle(config.typingRateLimit) }),
    'ws-mark-as-read': createMarkAsReadHandler(chat),
    'ws-join-conversation': createJoinConversationHandler(joinPorts(base, db)),
    'ws-leave-conversation': createLeaveConversationHandler(chat),
    'ws-edit-message': createEditMessageHandler(editMessagePorts(base, db)),
    'ws-delete-message': createDeleteMessageHandler(chat),
    'ws-react': createReactHandler(reactPorts(base, db)),
    'http-app': createAppApi(appPorts(base, db)).handler,
    'http-admin': createAdminApi(adminPorts(base, db)).handler,
    'attachments-sweep': createSweepHandler({
      store: createAttachmentStore(db),
      storage: attachmentStorage(base),
      policy: attachmentPolicy(base),
      log: base.log,
      deletions: { store: createErasureStore(db), storage: attachmentStorage(base), push: pushNotifier(base), log: base.log },
    }),
  }
  return { handlers, verifier }
}
