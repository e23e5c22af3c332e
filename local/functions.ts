/**
 * Everything of lambdas/ that the local stack invokes or configures, in one module so that a
 * reload can load a fresh copy of all of it at once (see reload.ts): the handlers each Lambda
 * function exports, the runtime's hooks, the configuration and the migrator.
 */
export { handler as appHandler, appRoutes } from '../lambdas/handlers/http-app.ts'
export { handler as adminHandler, adminRoutes } from '../lambdas/handlers/http-admin.ts'
export { handler as authorizer } from '../lambdas/handlers/ws-authorizer.ts'
export { handler as connect } from '../lambdas/handlers/ws-connect.ts'
export { handler as defaultRoute } from '../lambdas/handlers/ws-default.ts'
export { handler as disconnect } from '../lambdas/handlers/ws-disconnect.ts'
export { handler as joinConversation } from '../lambdas/handlers/ws-join-conversation.ts'
export { handler as leaveConversation } from '../lambdas/handlers/ws-leave-conversation.ts'
export { handler as markAsRead } from '../lambdas/handlers/ws-mark-as-read.ts'
export { handler as sendMessage } from '../lambdas/handlers/ws-send-message.ts'
export { handler as typing } from '../lambdas/handlers/ws-typing.ts'
export { provideDatabase, resetRuntime, tokenVerifier } from '../lambdas/runtime.ts'
export { config, resetConfig } from '../lambdas/config.ts'
export { migrateToLatest } from '../lambdas/adapters/migrator.ts'
