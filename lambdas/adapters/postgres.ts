import { Kysely, PostgresDialect, type LogConfig } from 'kysely'
import pg from 'pg'
import type { Config } from '../config.ts'
import type { Database } from './database-schema.ts'

// int8 (count(*), sums) arrives as a string by default; our counts fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10))

/**
 * A Kysely instance over node-postgres for one Lambda container: a pool of one connection
 * (a container handles one invocation at a time; RDS Proxy multiplexes across containers) and
 * a statement timeout sent at connection start-up (no `SET`, which would pin the session
 * behind RDS Proxy), so a hung query is cut well before the Lambda timeout.
 */
export function createPostgresDatabase(settings: Config['database'], options: { poolSize?: number; log?: LogConfig } = {}): Kysely<Database> {
  const pool = new pg.Pool({
    ...(settings.url ? { connectionString: settings.url } : connectionFields(settings)),
    max: options.poolSize ?? 1,
    statement_timeout: settings.statementTimeoutMs,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 60_000,
    // A broken connection (database restarted) is discarded and the next query reconnects.
    allowExitOnIdle: true,
  })
  // An idle client losing its connection emits 'error' on the pool; without a listener that kills the process.
  pool.on('error', () => {})
  // A client in use (checked out, so the pool's own listener is off) that loses its connection
  // also emits 'error', besides failing its statement; unheard, that is an uncaught exception and
  // the container dies. The statement's failure is what matters, and the pool drops the broken
  // client when it comes back, so the next statement connects afresh.
  pool.on('connect', (client) => client.on('error', () => {}))
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...(options.log ? { log: options.log } : {}) })
}

function connectionFields(settings: Config['database']): pg.PoolConfig {
  return {
    host: settings.host,
    port: settings.port,
    database: settings.name,
    user: settings.user,
    ssl: settings.ssl ? { rejectUnauthorized: true } : false,
    ...(settings.iamAuth ? { password: () => iamAuthToken(settings) } : {}),
  }
}

/** RDS IAM auth token (valid 15 minutes), signed with the function's role; loaded only when used. */
async function iamAuthToken(settings: Config['database']): Promise<string> {
  const { Signer } = await import('@aws-sdk/rds-signer')
  return new Signer({ hostname: settings.host ?? '', port: settings.port, username: settings.user }).getAuthToken()
}

/** Settings for a plain `postgres://` URL (local stack, tests, `npm run migrate`). */
export function databaseSettingsFromUrl(url: string, statementTimeoutMs = 5000): Config['database'] {
  return { url, host: undefined, port: 5432, name: '', user: '', iamAuth: false, ssl: false, statementTimeoutMs }
}
