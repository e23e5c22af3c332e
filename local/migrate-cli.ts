import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { readLocalEnv } from './env.ts'
import { PGliteDialect } from './pglite-dialect.ts'

/** `npm run migrate`: applies pending migrations to DATABASE_URL, or to the embedded database in DATA_DIR. */
const env = readLocalEnv()
let db: Kysely<Database>
let pglite: PGlite | undefined
if (env.DATABASE_URL) {
  db = createPostgresDatabase(databaseSettingsFromUrl(env.DATABASE_URL, 60_000))
} else {
  await mkdir(resolve(env.DATA_DIR), { recursive: true })
  pglite = new PGlite(join(resolve(env.DATA_DIR), 'pgdata'))
  db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) })
}
try {
  const applied = await migrateToLatest(db)
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date')
} finally {
  await db.destroy()
  await pglite?.close()
}
