import { sql } from 'kysely'
import { describeError, log } from '../adapters/logger.ts'
import { migrateToLatest } from '../adapters/migrator.ts'
import { db } from '../runtime.ts'

/** On a brand-new stack the RDS Proxy target can take a minute or two to become available. */
const CONNECT_ATTEMPTS = 12
const CONNECT_DELAY_MS = 10_000

/**
 * Deploy-time migration runner, invoked by a CDK trigger before the APIs take traffic.
 * It throws on failure, which fails the trigger and with it the deployment.
 * The migrations are bundled in (a static list), since a Lambda cannot read a folder of them.
 */
export async function handler(): Promise<{ applied: string[] }> {
  await waitForDatabase()
  try {
    const applied = await migrateToLatest(db())
    log.info('migrations applied', { applied })
    return { applied }
  } catch (error) {
    log.error('migration failed', describeError(error))
    throw error
  }
}

async function waitForDatabase(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`SELECT 1`.execute(db())
      return
    } catch (error) {
      if (attempt >= CONNECT_ATTEMPTS) throw error
      log.warn('database not reachable yet; retrying', { attempt, ...describeError(error) })
      await new Promise((resolve) => setTimeout(resolve, CONNECT_DELAY_MS))
    }
  }
}
