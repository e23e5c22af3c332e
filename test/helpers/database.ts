import { PGlite } from '@electric-sql/pglite'
import { Kysely, type LogEvent } from 'kysely'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { createPostgresDatabase } from '../../lambdas/adapters/postgres.ts'
import { migrateToLatest } from '../../lambdas/adapters/migrator.ts'
import type { Database } from '../../lambdas/adapters/database-schema.ts'
import { PGliteDialect } from '../../local/pglite-dialect.ts'

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
 * A fresh, empty database for one test file: a new database on the server named by
 * DATABASE_URL when it is set (CI), otherwise an in-memory PGlite.
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
    const name = `trainer_chat_test_${randomBytes(6).toString('hex')}`
    const admin = new pg.Client({ connectionString: serverUrl })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    await admin.end()
    const parsed = new URL(serverUrl)
    parsed.pathname = `/${name}`
    url = parsed.toString()
    const inner = createPostgresDatabase(
      { url, host: undefined, port: 5432, name, user: '', iamAuth: false, ssl: false, statementTimeoutMs: 5000 },
      { poolSize: 10, log },
    )
    db = inner
    cleanup = async () => {
      await inner.destroy()
      const dropper = new pg.Client({ connectionString: serverUrl })
      await dropper.connect()
      await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await dropper.end()
    }
  } else {
    const pglite = new PGlite()
    const inner = new Kysely<Database>({ dialect: new PGliteDialect(pglite), log })
    db = inner
    cleanup = async () => {
      await inner.destroy()
      await pglite.close()
    }
  }
  if (options.migrate !== false) await migrateToLatest(db)
  statements.reset()
  return { db, url, kind: serverUrl ? 'postgres' : 'pglite', statements, close: cleanup }
}

