import type { PGlite } from '@electric-sql/pglite'
import { Kysely, sql, type LogEvent } from 'kysely'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { parseConfig, type Config } from '../lambdas/config.ts'
import type { AwsEdge, LambdaHandler } from '@trainer-chat/aws-edge'
import { PING_ACTION, PONG_REPLY } from '@trainer-chat/protocol/server'
import { startLocalAws, type LocalAws } from './aws.ts'
import { startHttpGateway, type HttpGateway } from './http-gateway.ts'
import { loadIssuer, type LocalIssuer } from './issuer.ts'
import { silentLog, type LocalLog } from './log.ts'
import { consoleSites } from './console-sites.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import type { BuiltFunctions, LocalHandlers } from './functions.ts'
import { loadFunctions, watchSources, type Functions, type SourceWatcher } from './reload.ts'
import { seedDemoData } from './seed.ts'
import { checkDatabaseUrl, explainDatabaseError, explainDataDirError, StartupError } from './startup-errors.ts'
import { DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_CONNECTION_SECONDS, startWsGateway, type WsGateway } from './ws-gateway.ts'

/**
 * The whole backend on one machine, no Docker and no cloud account: Postgres (embedded PGlite
 * under DATA_DIR, or the server in DATABASE_URL), the WebSocket API, the HTTP API and a JWT
 * issuer, invoking the handlers Lambda runs, built by the same factories from the stack's own
 * settings (its ports, its database, its AWS edge). Nothing is written to process.env.
 */

export interface LocalStackOptions {
  dataDir: string
  host?: string
  /** 0 picks a free port (tests). */
  httpPort?: number
  wsPort?: number
  databaseUrl?: string | undefined
  seed?: boolean
  /** Receives the gateways' own diagnostics. */
  log?: (line: string) => void
  /** Called with every SQL statement the handlers send (tests count round trips with it). */
  onQuery?: (sql: string) => void
  /** Embedded PGlite only: runs before every statement, and what it throws fails it (tests stop the database). */
  pgliteBeforeQuery?: (sql: string) => void | Promise<void>
  /**
   * Embedded PGlite only: a DATA_DIR without a database gets a copy of a migrated template kept
   * at this base path (local/pglite-template.ts), made once per set of migrations, instead of a
   * database created and migrated in place. `npm run dev` passes node_modules/.cache's.
   */
  pgliteTemplateBase?: string
  /** The AWS edge's port (S3, SNS); default 4566 like LocalStack, 0 picks a free port (tests). */
  awsPort?: number
  /** Use this AWS endpoint (a real LocalStack) instead of starting the edge; default AWS_ENDPOINT_URL. */
  awsEndpointUrl?: string | undefined
  /** Handler settings (the variables of lambdas/config.ts) over process.env's, e.g. `{ LOG_LEVEL: 'warn' }`. */
  settings?: Record<string, string>
  /** API Gateway's idle timeout and maximum connection duration; default 600 and 7200 (`npm run dev` reads WS_IDLE_TIMEOUT_SECONDS, WS_MAX_CONNECTION_SECONDS). */
  wsIdleTimeoutSeconds?: number
  wsMaxConnectionSeconds?: number
  /** Start-up progress, one line per request, connection and (at debug) frame. Default: silent. */
  logger?: LocalLog
  /** Reload the handlers when a file under lambdas/ or migrations/ changes (see reload.ts). */
  reload?: boolean
  /** The built moderation console served at /console/; default console/dist. */
  consoleDir?: string
  /** Lifetime of the hosted UI's id and access tokens; default one hour (tests shorten it to see a refresh). */
  consoleTokenLifetimeSeconds?: number
}

export type { LocalHandlers } from './functions.ts'

export interface LocalStack {
  httpUrl: string
  wsUrl: string
  issuer: LocalIssuer
  db: Kysely<Database>
  ws: WsGateway
  http: HttpGateway
  databaseKind: 'postgres' | 'pglite'
  /** Where the handlers' S3 and SNS calls go. */
  awsUrl: string
  /** The in-process AWS edge (fault injection, recorded pushes); undefined when an external endpoint is used. */
  aws: AwsEdge | undefined
  /** The handlers the gateways invoke right now. */
  handlers(): LocalHandlers
  /** The handlers' configuration as parsed for this stack. */
  config(): Config
  /** Rebuilds every handler from these settings over the start-up ones, as fresh Lambda containers would read them. */
  reconfigure(settings: Record<string, string>): void
  /** Loads the handlers afresh (what a change under lambdas/ does when `reload` is on); resolves false if that failed. */
  reload(reason?: string): Promise<boolean>
  stop(): Promise<void>
}

export const LOCAL_AUDIENCE = 'trainer-chat-local'
export const LOCAL_STAGE = 'local'

export function localIssuerUrl(host: string, httpPort: number): string {
  return `http://${host}:${httpPort}/local-issuer`
}

const ROOT = new URL('..', import.meta.url).pathname
/** The Lambda functions' sources: a change under these reloads the handlers. */
const RELOADED_DIRS = ['lambdas', 'migrations']

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const host = options.host ?? '127.0.0.1'
  const dataDir = resolve(options.dataDir)
  const logger = options.logger ?? silentLog
  const started = performance.now()
  const elapsed = (since = started) => `${Math.round(performance.now() - since)} ms`
  await prepareDataDir(dataDir)
  if (options.databaseUrl) checkDatabaseUrl(options.databaseUrl)

  // What the stack needs before its ports are known; the handlers' full settings follow below.
  const initial = parseConfig({ ...process.env, ...options.settings })
  const credentials = localCredentials()

  // The handlers run only once everything is in place; until then a request waits for them.
  // Across reconfigure() and reload(), the gateways invoke what was built last.
  let functions: Functions | undefined
  let built: BuiltFunctions | undefined
  let markReady!: () => void
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const current = (name: keyof LocalHandlers): LambdaHandler => async (event, context) => {
    await ready
    return (built as BuiltFunctions).handlers[name](event, context)
  }
  // The WebSocket gateway reads this table on every frame: until the handlers are built each
  // route waits for them, and every build (use) puts its handlers in, so a frame calls the
  // handler itself with nothing of the stack's in between.
  const wsRoutes: Record<string, LambdaHandler> = {}
  const wsRouteHandlers = new Map<string, keyof LocalHandlers>()
  const use = (next: BuiltFunctions) => {
    built = next
    for (const [key, name] of wsRouteHandlers) wsRoutes[key] = next.handlers[name]
  }

  let issuer: LocalIssuer | undefined
  // Known once the HTTP gateway listens; the console's config.json names it.
  let httpUrl = ''
  const loading = loadFunctions(0).then((loaded) => {
    logger.step(`handlers loaded (${elapsed()})`)
    return loaded
  })

  // Everything slow starts at once: the listeners (so a taken port is reported early), the
  // handler modules' import, and the database (opening, migrating, seeding).
  // The database runs on while the listeners start; a listener's failure (a taken port) is
  // reported without waiting for it.
  const preparing = prepareDatabase(dataDir, options, initial.database.statementTimeoutMs, logger)
  // Its failure is read below, after the listeners; until then it must not count as unhandled.
  preparing.catch(() => {})
  const [httpResult, wsResult, awsResult, functionsResult] = await Promise.allSettled([
    // The route table is read from the declarations once (a new route needs a restart).
    loading.then((loaded) =>
      startHttpGateway({
        port: options.httpPort ?? 3000,
        host,
        routes: loaded.httpRoutes().map((route) => ({ routeKey: route.key, access: route.access, handler: current(route.handler), functionName: route.handler })),
        verifier: () => async (token) => {
          await ready
          return (built as BuiltFunctions).verifier(token)
        },
        staticJson: { '/local-issuer/.well-known/jwks.json': () => issuer?.jwks ?? { keys: [] } },
        sites: consoleSites({ issuer: () => issuer, httpUrl: () => httpUrl, clientId: LOCAL_AUDIENCE, ...options }),
        ...(options.log ? { log: options.log } : {}),
        logger,
      }),
    ),
    loading.then((loaded) => {
      for (const route of loaded.WEBSOCKET_ROUTES) {
        wsRouteHandlers.set(route.key, route.handler)
        wsRoutes[route.key] = current(route.handler)
      }
      return startWsGateway({
        port: options.wsPort ?? 3001,
        host,
        stage: LOCAL_STAGE,
        authorizer: current('ws-authorizer'),
        routes: wsRoutes,
        // In AWS: the `ping` route's MOCK integration and route response (lib/constructs/websocket-api.ts).
        mockRoutes: { [PING_ACTION]: PONG_REPLY },
        idleTimeoutSeconds: options.wsIdleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS,
        maxConnectionSeconds: options.wsMaxConnectionSeconds ?? DEFAULT_MAX_CONNECTION_SECONDS,
        ...(options.log ? { log: options.log } : {}),
        logger,
        credentials: [credentials],
        region: initial.region,
      })
    }),
    startLocalAws({
      dataDir,
      host,
      port: options.awsPort ?? 4566,
      externalUrl: options.awsEndpointUrl ?? process.env.AWS_ENDPOINT_URL,
      region: initial.region,
      bucket: initial.attachments.bucket,
    }).then((aws) => {
      logger.step(`AWS      ${aws.edge ? `local S3 and SNS edge on ${aws.url}` : `external endpoint ${aws.url}`} (${elapsed()})`)
      return aws
    }),
    loading,
  ])
  const results: PromiseSettledResult<unknown>[] = [httpResult, wsResult, awsResult, functionsResult]
  const listenerFailed = results.some((result) => result.status === 'rejected')
  if (listenerFailed) void preparing.then((database) => database.stop(), () => {})
  else results.push(...(await Promise.allSettled([preparing])))
  const databaseResult = results[4]
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []))
  if (failures.length > 0) {
    // Stop what did start (listeners, the database), so the process can exit.
    await Promise.allSettled(
      results.map((result) => {
        const value = result.status === 'fulfilled' ? (result.value as { stop?: unknown }) : undefined
        return typeof value?.stop === 'function' ? (value.stop as () => Promise<void>)() : undefined
      }),
    )
    throw combineFailures(failures)
  }
  const http = (httpResult as PromiseFulfilledResult<HttpGateway>).value
  httpUrl = http.url
  const ws = (wsResult as PromiseFulfilledResult<WsGateway>).value
  const aws = (awsResult as PromiseFulfilledResult<LocalAws>).value
  const { db, close: closeDatabase, kind } = (databaseResult as PromiseFulfilledResult<OpenedDatabase>).value
  functions = (functionsResult as PromiseFulfilledResult<Functions>).value

  // Only now are the ports known: the handlers' settings point at this stack.
  const issuerUrl = localIssuerUrl(host, http.port)
  const startupSettings: Record<string, string | undefined> = {
    ...process.env,
    JWT_ISSUER: issuerUrl,
    JWT_JWKS_URL: `${issuerUrl}/.well-known/jwks.json`,
    JWT_AUDIENCE: LOCAL_AUDIENCE,
    JWT_TOKEN_USE: 'id',
    CONNECTIONS_ENDPOINT: ws.managementEndpoint,
    // S3 and SNS: the local edge (or AWS_ENDPOINT_URL), its bucket and platform applications.
    ...aws.env,
    ...options.settings,
  }
  // The settings reconfigure() laid over the start-up ones; a reload keeps them.
  let overrides: Record<string, string> = {}
  let config: Config = functions.parseConfig(startupSettings)
  use(functions.buildHandlers(config, db, credentials))
  issuer = await loadIssuer(dataDir, issuerUrl, LOCAL_AUDIENCE)
  logger.step(`HTTP API  ${http.url}   WebSocket API  ${ws.url}/${LOCAL_STAGE}`)
  markReady()

  let generation = 0
  let reloading: Promise<boolean> = Promise.resolve(true)
  const reload = (reason = 'requested') => {
    reloading = reloading.then(async () => {
      const since = performance.now()
      try {
        const next = await loadFunctions(++generation)
        // The fresh code parses the settings and builds every handler with its own factories.
        const nextConfig = next.parseConfig({ ...startupSettings, ...overrides })
        const applied = await next.migrateToLatest(db)
        const nextBuilt = next.buildHandlers(nextConfig, db, credentials)
        functions = next
        config = nextConfig
        use(nextBuilt)
        logger.step(`reloaded the handlers (${reason}) in ${elapsed(since)}${applied.length ? `; applied ${applied.join(', ')}` : ''}; connections and data kept`)
        return true
      } catch (error) {
        const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
        logger.write('error', 'reload', `reload failed (${reason}), still running the previous code: ${message}`)
        return false
      }
    })
    return reloading
  }
  let watcher: SourceWatcher | undefined
  if (options.reload) {
    watcher = watchSources(ROOT, [...RELOADED_DIRS, 'local'], (files) => {
      const restartOnly = files.filter((file) => file.startsWith('local'))
      if (restartOnly.length) logger.write('warn', 'reload', `${restartOnly.join(', ')} changed: the gateways are not reloaded, restart npm run dev to apply`)
      const reloadable = files.filter((file) => !file.startsWith('local'))
      if (reloadable.length) void reload(reloadable.join(', '))
    })
  }

  return {
    httpUrl: http.url,
    wsUrl: ws.url,
    issuer: issuer as LocalIssuer,
    db,
    ws,
    http,
    databaseKind: kind,
    awsUrl: aws.url,
    aws: aws.edge,
    handlers: () => (built as BuiltFunctions).handlers,
    config: () => config,
    reconfigure(settings) {
      overrides = settings
      config = (functions as Functions).parseConfig({ ...startupSettings, ...overrides })
      use((functions as Functions).buildHandlers(config, db, credentials))
    },
    reload,
    async stop() {
      watcher?.close()
      await ws.stop()
      await http.stop()
      await aws.stop()
      await closeDatabase()
    },
  }
}

function localCredentials(): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' }
}

/** Several listeners can fail at once (three ports taken): say all of it in one line. */
function combineFailures(failures: unknown[]): unknown {
  const worded = failures.filter((failure): failure is StartupError => failure instanceof StartupError)
  if (worded.length > 1) return new StartupError(worded.map((failure) => failure.message).join('; '), { cause: failures[0] })
  return worded[0] ?? failures[0]
}

/** Creates DATA_DIR if needed and proves it writable, so a read-only one is one clear line. */
async function prepareDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true })
    const probe = join(dataDir, `.write-check-${process.pid}`)
    await writeFile(probe, '')
    await rm(probe, { force: true })
  } catch (error) {
    throw explainDataDirError(error, dataDir) ?? error
  }
}

interface OpenedDatabase {
  db: Kysely<Database>
  close(): Promise<void>
  kind: 'postgres' | 'pglite'
}

/** Opens the database, checks that it answers, applies the migrations and seeds, saying each step. */
async function prepareDatabase(dataDir: string, options: LocalStackOptions, statementTimeoutMs: number, logger: LocalLog): Promise<OpenedDatabase & { stop(): Promise<void> }> {
  const since = performance.now()
  const elapsed = () => `${Math.round(performance.now() - since)} ms`
  let opened: OpenedDatabase
  try {
    if (!options.databaseUrl && options.pgliteTemplateBase) await seedFromTemplate(join(dataDir, 'pgdata'), options.pgliteTemplateBase, logger)
    opened = await openDatabase(dataDir, options.databaseUrl, statementTimeoutMs, options.onQuery, options.pgliteBeforeQuery)
    await sql`select 1`.execute(opened.db)
  } catch (error) {
    throw explainDatabaseError(error, options.databaseUrl) ??
      explainDataDirError(error, dataDir) ??
      new StartupError(`the ${options.databaseUrl ? 'database in DATABASE_URL' : `embedded database in ${join(dataDir, 'pgdata')}`} could not be opened: ${firstLine(error)}`, { cause: error })
  }
  const where = opened.kind === 'pglite' ? `embedded PGlite in ${join(dataDir, 'pgdata')}` : `PostgreSQL at ${describeUrl(options.databaseUrl as string)}`
  logger.step(`database ${where} opened (${elapsed()})`)
  try {
    const { migrateToLatest } = await import('../lambdas/adapters/migrator.ts')
    const applied = await migrateToLatest(opened.db).catch((error: unknown) => {
      const cause = (error as { cause?: unknown }).cause ?? error
      const known = explainDatabaseError(cause, options.databaseUrl)
      if (known) throw known
      const name = /^migration (\S+) failed/.exec((error as Error).message)?.[1] ?? '(before any migration ran)'
      throw new StartupError(`migration ${name} failed: ${firstLine(cause)}`, { cause: error })
    })
    logger.step(applied.length ? `migrations applied: ${applied.join(', ')} (${elapsed()})` : `migrations: up to date (${elapsed()})`)
    if (options.seed !== false) {
      await seedDemoData(opened.db)
      logger.step(`demo data seeded (${elapsed()})`)
    }
    // No socket survives a restart of the local stack, and a crash loses every $disconnect: rows
    // left by an earlier run would hold their users' connection slots (#11 item 2).
    const cleared = await clearConnections(opened.db)
    if (cleared > 0) logger.step(`cleared ${cleared} connection${cleared === 1 ? '' : 's'} left by an earlier run`)
  } catch (error) {
    await opened.close()
    throw error
  }
  return { ...opened, stop: opened.close }
}

/**
 * A fresh DATA_DIR's database as a copy of the migrated template (made first if the migrations
 * changed since it was). Any problem with the template only costs time: the database is then
 * created and migrated in place, and a failing migration is reported from there, by name.
 */
async function seedFromTemplate(pgdata: string, base: string, logger: LocalLog): Promise<void> {
  const { copyTemplateTo, exists, prepareTemplates, pruneOtherTemplates } = await import('./pglite-template.ts')
  if (await exists(pgdata)) return
  const since = performance.now()
  try {
    const { home, built } = await prepareTemplates(base, ['migrated'])
    if (built.length > 0) {
      logger.step(`migrated database template made for these migrations (${Math.round(performance.now() - since)} ms, once)`)
      await pruneOtherTemplates(home)
    }
    await copyTemplateTo(home, 'migrated', pgdata)
    logger.step(`fresh DATA_DIR: database copied from the migrated template (${Math.round(performance.now() - since)} ms)`)
  } catch (error) {
    await rm(pgdata, { recursive: true, force: true })
    logger.write('warn', 'database', `no migrated template (${firstLine(error)}); creating the database in place`)
  }
}

/** Deletes every connection row: at start-up, the gateway has no socket yet. */
async function clearConnections(db: Kysely<Database>): Promise<number> {
  const result = await db.deleteFrom('connections').executeTakeFirst()
  return Number(result.numDeletedRows)
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''
}

function describeUrl(url: string): string {
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`
}

async function openDatabase(
  dataDir: string,
  databaseUrl: string | undefined,
  statementTimeoutMs: number,
  onQuery: ((sql: string) => void) | undefined,
  beforeQuery: ((sql: string) => void | Promise<void>) | undefined,
): Promise<{ db: Kysely<Database>; close(): Promise<void>; kind: 'postgres' | 'pglite' }> {
  // Kysely's log hears every statement once it has run or failed (the tests count round trips).
  const log = onQuery ? (event: LogEvent) => onQuery(event.query.sql) : undefined
  if (databaseUrl) {
    // The handlers' statement timeout (DB_STATEMENT_TIMEOUT_MS), as a Lambda container would have it.
    const settings = databaseSettingsFromUrl(databaseUrl, statementTimeoutMs)
    const db = createPostgresDatabase(settings, { poolSize: 10, ...(log ? { log } : {}) })
    return { db, close: () => db.destroy(), kind: 'postgres' }
  }
  const { PGlite } = await import('@electric-sql/pglite')
  const pglite: PGlite = new PGlite(join(dataDir, 'pgdata'))
  await pglite.waitReady
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite, beforeQuery ? { beforeQuery } : {}), ...(log ? { log } : {}) })
  return {
    db,
    async close() {
      await db.destroy()
      await pglite.close()
    },
    kind: 'pglite',
  }
}
