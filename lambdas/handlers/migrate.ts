import { sql, type Kysely } from 'kysely'
import type { Database } from '../adapters/database-schema.ts'
import { migrateToLatest } from '../adapters/migrator.ts'
import { createPostgresDatabase } from '../adapters/postgres.ts'
import { config } from '../config.ts'
import { describeError } from '../core/errors.ts'
import type { Log } from '../core/ports.ts'
import { createBase } from '../wiring/base.ts'

/** On a brand-new stack the RDS Proxy target can take a minute or two to become available. */
const CONNECT_ATTEMPTS = 12
const CONNECT_DELAY_MS = 10_000

/**
 * Deploy-time migration runner, invoked by a CDK trigger before the APIs take traffic.
 * It throws on failure, which fails the trigger and with it the deployment.
 * The migrations are bundled in (a static list), since a Lambda cannot read a folder of them.
 */
export function createMigrateHandler({ db, log }: { db: Kysely<Database>; log: Log }) {
  return async function migrate(): Promise<{ applied: string[] }> {
    await waitForDatabase(db, log)
    try {
      const applied = await migrateToLatest(db)
      log.info('migrations applied', { applied })
      return { applied }
    } catch (error) {
      log.error('migration failed', describeError(error))
      throw error
    }
  }
}

async function waitForDatabase(db: Kysely<Database>, log: Log): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`SELECT 1`.execute(db)
      return
    } catch (error) {
      if (attempt >= CONNECT_ATTEMPTS) throw error
      log.warn('database not reachable yet; retrying', { attempt, ...describeError(error) })
      await new Promise((resolve) => setTimeout(resolve, CONNECT_DELAY_MS))
    }
  }
}

const base = createBase(config())
export const handler = createMigrateHandler({ db: createPostgresDatabase(base.config.database, { region: base.config.region }), log: base.log })
