import { Kysely, PostgresDialect, type LogConfig, type PostgresPool } from 'kysely'
import pg from 'pg'
import type { Config } from '../config.ts'
import { ChatError } from '../core/errors.ts'
import type { Database } from './database-schema.ts'
import { environmentCredentials, rdsAuthToken } from './sigv4.ts'

// int8 (count(*), sums) arrives as a string by default; our counts fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10))

/**
 * A Kysely instance over node-postgres for one Lambda container: a pool of one connection
 * (a container handles one invocation at a time; RDS Proxy multiplexes across containers) and
 * a statement timeout sent at connection start-up (no `SET`, which would pin the session
 * behind RDS Proxy), so a hung query is cut well before the Lambda timeout.
 */
export function createPostgresDatabase(
  settings: Config['database'],
  options: { poolSize?: number; log?: LogConfig; /** For the RDS IAM auth token (DB_IAM_AUTH). */ region?: string } = {},
): Kysely<Database> {
  const pool = new pg.Pool({
    ...(settings.url ? { connectionString: settings.url } : connectionFields(settings, options.region)),
    max: options.poolSize ?? 1,
    statement_timeout: settings.statementTimeoutMs,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
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
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: refusingWhenUnreachable(pool) }), ...(options.log ? { log: options.log } : {}) })
}

/** How long a statement waits for a connection (pool exhausted, server unreachable) before `unavailable`. */
export const CONNECT_TIMEOUT_MS = 2_000
/** What an `unavailable` answer tells the client to wait before retrying. */
export const UNAVAILABLE_RETRY_AFTER_MS = 1_000

/**
 * A pool whose failure to hand out a connection (server down or refusing, pool exhausted past
 * the connect timeout) is `unavailable` with `retryAfterMs`: no statement was sent, so nothing
 * was stored and a retry with the same clientMessageId is safe. A connection that breaks during a
 * statement stays `internal`: that statement may have committed.
 */
function refusingWhenUnreachable(pool: pg.Pool): PostgresPool {
  return {
    end: () => pool.end(),
    connect: async () => {
      try {
        return await pool.connect()
      } catch (cause) {
        throw new ChatError('unavailable', 'The database is unavailable; nothing was stored, retry later with the same request', {
          retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS,
        }, { cause })
      }
    },
  }
}

function connectionFields(settings: Config['database'], region: string | undefined): pg.PoolConfig {
  return {
    host: settings.host,
    port: settings.port,
    database: settings.name,
    user: settings.user,
    ssl: settings.ssl ? { rejectUnauthorized: true } : false,
    ...(settings.iamAuth ? { password: async () => iamAuthToken(settings, region) } : {}),
  }
}

/**
 * RDS IAM auth token (valid 15 minutes), signed with the function's role from its environment, at
 * each new connection. Signed here (sigv4.ts) rather than with @aws-sdk/rds-signer, whose SDK
 * signer and credential chain were ~250 KB of every handler's bundle (issue 12 item 5).
 */
function iamAuthToken(settings: Config['database'], region: string | undefined): string {
  if (!region) throw new Error('DB_IAM_AUTH needs the region (AWS_REGION) to sign the auth token')
  return rdsAuthToken({ hostname: settings.host ?? '', port: settings.port, username: settings.user, region, credentials: environmentCredentials(), now: new Date() })
}

/** Settings for a plain `postgres://` URL (local stack, tests, `npm run migrate`). */
export function databaseSettingsFromUrl(url: string, statementTimeoutMs = 5000): Config['database'] {
  return { url, host: undefined, port: 5432, name: '', user: '', iamAuth: false, ssl: false, statementTimeoutMs }
}
