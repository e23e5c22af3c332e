import { Kysely, type LogEvent } from 'kysely'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../../lambdas/adapters/postgres.ts'
import { migrateToLatest } from '../../lambdas/adapters/migrator.ts'
import type { Database } from '../../lambdas/adapters/database-schema.ts'
import { PGliteDialect } from '../../local/pglite-dialect.ts'
import { openTemplateInMemory } from './pglite-template.ts'

export interface TestDatabase {
  db: Kysely<Database>
  /** A `postgres://` URL for the same database when running against a server, else undefined. */
  url: string | undefined
  kind: 'postgres' | 'pglite'
  /** Counts the statements sent through `db` since the last reset. */
  statements: { count: number; reset(): void; log: string[] }
  close(): Promise<void>
}

/**
 * A fresh database for one test file, migrated unless `migrate: false`: a new database on the
 * server named by DATABASE_URL when it is set (CI), otherwise an in-memory PGlite loaded from a
 * template (pglite-template.ts), which is much faster than creating and migrating one.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const statements = { count: 0, log: [] as string[], reset() { this.count = 0; this.log = [] } }
  const log = (event: LogEvent) => {
    statements.count++
    statements.log.push(event.query.sql)
  }
  const serverUrl = process.env.DATABASE_URL
  let db: Kysely<Database>
  let url: string | undefined
  let cleanup: () => Promise<void>

  if (serverUrl) {
    const server = await createServerDatabase(serverUrl)
    url = server.url
    const inner = createPostgresDatabase(databaseSettingsFromUrl(url), { poolSize: 10, log })
    db = inner
    cleanup = async () => {
      await inner.destroy()
      await server.drop()
    }
  } else {
    const copy = await openTemplateInMemory(options.migrate === false ? 'empty' : 'migrated')
    const inner = new Kysely<Database>({ dialect: new PGliteDialect(copy.pglite), log })
    db = inner
    cleanup = async () => {
      await inner.destroy()
      await copy.close()
    }
  }
  // A no-op on a migrated template; on a server, the fresh database's migrations.
  if (options.migrate !== false) await migrateToLatest(db)
  statements.reset()
  return { db, url, kind: serverUrl ? 'postgres' : 'pglite', statements, close: cleanup }
}


/** Creates an empty database on the server at `serverUrl`; `drop()` removes it (even with open connections). */
export async function createServerDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `trainer_chat_test_${randomBytes(6).toString('hex')}`
  const run = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  }
  await run(`CREATE DATABASE ${name}`)
  const parsed = new URL(serverUrl)
  parsed.pathname = `/${name}`
  return { url: parsed.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}
