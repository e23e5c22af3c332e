import type { Kysely } from 'kysely'
import { createChatStore } from '../adapters/chat-store.ts'
import type { Database } from '../adapters/database-schema.ts'
import { createPostgresDatabase } from '../adapters/postgres.ts'
import type { ChatPorts } from '../core/chat.ts'
import type { ChatStore } from '../core/ports.ts'
import type { Base } from './base.ts'
import { websocketDelivery } from './delivery.ts'

/** A Lambda container's database: one pooled connection to the configured server (RDS Proxy in AWS). */
export function lambdaDatabase(base: Base): Kysely<Database> {
  return createPostgresDatabase(base.config.database, { region: base.config.region })
}

/** The chat statements over a database, with the configured limits. */
export function chatStore(base: Base, db: Kysely<Database>): ChatStore {
  const { sendRateLimit, attachments, typingRateLimit, joinRateLimit, markAsReadRateLimit } = base.config
  return createChatStore(db, {
    sendRateLimit,
    attachmentUseWithinSeconds: attachments.useWithinSeconds,
    typingLimit: typingRateLimit,
    joinLimit: joinRateLimit,
    readLimit: markAsReadRateLimit,
  })
}

/** The chat use cases' ports over a database: the one-statement store, the fan-out and the log. */
export function chatPorts(base: Base, db: Kysely<Database>): ChatPorts {
  return { store: chatStore(base, db), delivery: websocketDelivery(base), log: base.log, metrics: base.metrics }
}
