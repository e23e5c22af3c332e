import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import type { Kysely } from 'kysely'
import { createChatStore } from './adapters/chat-store.ts'
import type { Database } from './adapters/database-schema.ts'
import { createTokenVerifier, type TokenVerifier } from './adapters/jwt.ts'
import { log } from './adapters/logger.ts'
import { createPostgresDatabase } from './adapters/postgres.ts'
import { createWebSocketDelivery } from './adapters/websocket-delivery.ts'
import { config } from './config.ts'
import { createThrottle, type Throttle } from './core/throttle.ts'
import type { ChatPorts } from './core/chat.ts'
import type { Delivery } from './core/ports.ts'
import type { ServerFrame } from './core/protocol.ts'

/**
 * The composition root. Each client is created on first use and then kept for the life of the
 * process (a Lambda container), so warm invocations reuse the database connection, the HTTP
 * agents and the JWKS cache. The local stack and tests swap in their own database with
 * `provideDatabase` before the first invocation.
 *
 * S3 and SNS live in runtime-attachments.ts and runtime-push.ts, imported only by the handlers
 * that use them: esbuild bundles whatever a handler's imports reach, so keeping them out of
 * this module keeps the SDK's S3 and SNS clients out of every other handler's bundle.
 */

let database: Kysely<Database> | undefined
let delivery: Delivery<ServerFrame> | undefined
let verifier: TokenVerifier | undefined
let chat: ChatPorts | undefined
let typing: Throttle | undefined

export function db(): Kysely<Database> {
  return (database ??= createPostgresDatabase(config().database))
}

export function provideDatabase(instance: Kysely<Database>): void {
  database = instance
  chat = undefined
}

/** Drops every cached client so the next use builds them from the current configuration (local stack restarts). */
export function resetRuntime(): void {
  database = undefined
  delivery = undefined
  verifier = undefined
  chat = undefined
  typing = undefined
  for (const reset of resetHooks) reset()
}

const resetHooks: Array<() => void> = []

/** Lets the optional runtime modules (attachments, push) drop their clients on resetRuntime(). */
export function onRuntimeReset(reset: () => void): void {
  resetHooks.push(reset)
}

export function websocketDelivery(): Delivery<ServerFrame> {
  return (delivery ??= createWebSocketDelivery<ServerFrame>(
    new ApiGatewayManagementApiClient({
      endpoint: config().connectionsEndpoint,
      region: config().region,
      maxAttempts: 3,
    }),
    log,
  ))
}

/** Kept outside `chat` so that swapping the database (provideDatabase) keeps what the container has counted. */
function typingThrottle(): Throttle {
  return (typing ??= createThrottle(config().typingRateLimit))
}

export function tokenVerifier(): TokenVerifier {
  return (verifier ??= createTokenVerifier(config().jwt))
}

export function chatPorts(): ChatPorts {
  return (chat ??= {
    store: createChatStore(db(), {
      sendRateLimit: config().sendRateLimit,
      attachmentUseWithinSeconds: config().attachments.useWithinSeconds,
    }),
    delivery: websocketDelivery(),
    log,
    typingThrottle: typingThrottle(),
  })
}
