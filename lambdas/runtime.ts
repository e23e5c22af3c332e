import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import type { Kysely } from 'kysely'
import { createChatStore } from './adapters/chat-store.ts'
import type { Database } from './adapters/database-schema.ts'
import { createTokenVerifier, type TokenVerifier } from './adapters/jwt.ts'
import { log } from './adapters/logger.ts'
import { createPostgresDatabase } from './adapters/postgres.ts'
import { createWebSocketDelivery } from './adapters/websocket-delivery.ts'
import { config } from './config.ts'
import type { ChatPorts } from './core/chat.ts'
import type { Delivery } from './core/ports.ts'
import type { ServerFrame } from './core/protocol.ts'

/**
 * The composition root. Each client is created on first use and then kept for the life of the
 * process (a Lambda container), so warm invocations reuse the database connection, the HTTP
 * agents and the JWKS cache. The local stack and tests swap in their own database with
 * `provideDatabase` before the first invocation.
 */

let database: Kysely<Database> | undefined
let delivery: Delivery<ServerFrame> | undefined
let verifier: TokenVerifier | undefined
let chat: ChatPorts | undefined

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

export function tokenVerifier(): TokenVerifier {
  return (verifier ??= createTokenVerifier(config().jwt))
}

export function chatPorts(): ChatPorts {
  return (chat ??= { store: createChatStore(db()), delivery: websocketDelivery(), log })
}
