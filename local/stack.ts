import type { PGlite } from '@electric-sql/pglite'
import { Kysely, sql, type LogEvent } from 'kysely'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { parseConfig } from '../lambdas/config.ts'
import type { AwsEdge } from './aws-edge/index.ts'
import { startLocalAws, type LocalAws } from './aws.ts'
import { startHttpGateway, type HttpGateway, type HttpGatewayRoute } from './http-gateway.ts'
import { loadIssuer, type LocalIssuer } from './issuer.ts'
import type { LambdaHandler } from './lambda-invoke.ts'
import { silentLog, type LocalLog } from './log.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { loadFunctions, watchSources, type Functions, type SourceWatcher } from './reload.ts'
import { seedDemoData } from './seed.ts'
import { checkDatabaseUrl, explainDatabaseError, explainDataDirError, StartupError } from './startup-errors.ts'
import { startWsGateway, type WsGateway } from './ws-gateway.ts'

/**
 * The whole backend on one machine, no Docker and no cloud account: Postgres (embedded PGlite
 * under DATA_DIR, or the server in DATABASE_URL), the WebSocket API, the HTTP API and a JWT
 * issuer, all invoking the very handler modules that Lambda runs.
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
  /** The AWS edge's port (S3, SNS); default 4566 like LocalStack, 0 picks a free port (tests). */
  awsPort?: number
  /** Use this AWS endpoint (a real LocalStack) instead of starting the edge; default AWS_ENDPOINT_URL. */
  awsEndpointUrl?: string | undefined
  /** Start-up progress, one line per request, connection and (at debug) frame. Default: silent. */
  logger?: LocalLog
  /** Reload the handlers when a file under lambdas/ or migrations/ changes (see reload.ts). */
  reload?: boolean
}

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

  // The handlers run only once everything is in place; until then a request waits for it.
  let functions: Functions | undefined
  let markReady!: () => void
  const ready = new Promise<void>((resolve) => (markReady = resolve))
  const fn = (name: keyof Functions & ('appHandler' | 'adminHandler' | 'authorizer' | 'connect' | 'defaultRoute' | 'disconnect' | 'joinConversation' | 'leaveConversation' | 'markAsRead' | 'sendMessage' | 'typing')): LambdaHandler =>
    async (event, context) => {
      await ready
      return ((functions as Functions)[name] as LambdaHandler)(event, context)
    }

  // The route table is read from the handler modules once (a new route needs a restart).
  const httpRoutes = (loaded: Functions): HttpGatewayRoute[] => [
    ...loaded.appRoutes.map((route) => ({ routeKey: route.routeKey, auth: route.auth, functionName: 'http-app', handler: fn('appHandler') })),
    ...loaded.adminRoutes.map((route) => ({ routeKey: route.routeKey, auth: route.auth, functionName: 'http-admin', handler: fn('adminHandler') })),
  ]
  let issuer: LocalIssuer | undefined
  const loading = loadFunctions(0).then((loaded) => {
    logger.step(`handlers loaded (${elapsed()})`)
    return loaded
  })

  // Everything slow starts at once: the listeners (so a taken port is reported early), the
  // handler modules' import, and the database (opening, migrating, seeding).
  // The database runs on while the listeners start; a listener's failure (a taken port) is
  // reported without waiting for it.
  const preparing = prepareDatabase(dataDir, options, logger)
  // Its failure is read below, after the listeners; until then it must not count as unhandled.
  preparing.catch(() => {})
  const [httpResult, wsResult, awsResult, functionsResult] = await Promise.allSettled([
    loading.then((loaded) =>
      startHttpGateway({
        port: options.httpPort ?? 3000,
        host,
        routes: httpRoutes(loaded),
        verifier: () => async (token) => {
          await ready
          return (functions as Functions).tokenVerifier()(token)
        },
        staticJson: { '/local-issuer/.well-known/jwks.json': () => issuer?.jwks ?? { keys: [] } },
        ...(options.log ? { log: options.log } : {}),
        logger,
      }),
    ),
    startWsGateway({
      port: options.wsPort ?? 3001,
      host,
      stage: LOCAL_STAGE,
      authorizer: fn('authorizer'),
      routes: {
        $connect: fn('connect'),
        $disconnect: fn('disconnect'),
        $default: fn('defaultRoute'),
        sendMessage: fn('sendMessage'),
        typing: fn('typing'),
        markAsRead: fn('markAsRead'),
        joinConversation: fn('joinConversation'),
        leaveConversation: fn('leaveConversation'),
      },
      ...(options.log ? { log: options.log } : {}),
      logger,
      credentials: [localCredentials()],
      region: process.env.AWS_REGION ?? 'us-east-1',
    }),
    startLocalAws({
      dataDir,
      host,
      port: options.awsPort ?? 4566,
      externalUrl: options.awsEndpointUrl ?? process.env.AWS_ENDPOINT_URL,
      region: process.env.AWS_REGION ?? 'us-east-1',
      bucket: process.env.ATTACHMENTS_BUCKET ?? 'trainer-chat-attachments',
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
  const ws = (wsResult as PromiseFulfilledResult<WsGateway>).value
  const aws = (awsResult as PromiseFulfilledResult<LocalAws>).value
  const { db, close: closeDatabase, kind } = (databaseResult as PromiseFulfilledResult<OpenedDatabase>).value
  functions = (functionsResult as PromiseFulfilledResult<Functions>).value
  const bootstrapping = functions

  // Only now are the ports known: point the handlers' configuration at this stack.
  const issuerUrl = localIssuerUrl(host, http.port)
  Object.assign(process.env, {
    JWT_ISSUER: issuerUrl,
    JWT_JWKS_URL: `${issuerUrl}/.well-known/jwks.json`,
    JWT_AUDIENCE: LOCAL_AUDIENCE,
    JWT_TOKEN_USE: 'id',
    CONNECTIONS_ENDPOINT: ws.managementEndpoint,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    // The management API client signs its requests; any credentials do locally.
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    // S3 and SNS: the local edge (or AWS_ENDPOINT_URL), its bucket and platform applications.
    ...aws.env,
  })
  bootstrapping.resetConfig()
  bootstrapping.resetRuntime()
  bootstrapping.provideDatabase(db)
  bootstrapping.config()
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
        next.resetConfig()
        next.provideDatabase(db)
        next.config()
        const applied = await next.migrateToLatest(db)
        functions = next
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
    reload,
    async stop() {
      watcher?.close()
      await ws.stop()
      await http.stop()
      await aws.stop()
      await closeDatabase()
      ;(functions as Functions).resetRuntime()
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
async function prepareDatabase(dataDir: string, options: LocalStackOptions, logger: LocalLog): Promise<OpenedDatabase & { stop(): Promise<void> }> {
  const since = performance.now()
  const elapsed = () => `${Math.round(performance.now() - since)} ms`
  let opened: OpenedDatabase
  try {
    opened = await openDatabase(dataDir, options.databaseUrl, options.onQuery, options.pgliteBeforeQuery)
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
  } catch (error) {
    await opened.close()
    throw error
  }
  return { ...opened, stop: opened.close }
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
  onQuery: ((sql: string) => void) | undefined,
  beforeQuery: ((sql: string) => void | Promise<void>) | undefined,
): Promise<{ db: Kysely<Database>; close(): Promise<void>; kind: 'postgres' | 'pglite' }> {
  const log = onQuery ? (event: LogEvent) => onQuery(event.query.sql) : undefined
  if (databaseUrl) {
    // The handlers' statement timeout (DB_STATEMENT_TIMEOUT_MS), as a Lambda container would have it.
    const settings = databaseSettingsFromUrl(databaseUrl, parseConfig(process.env).database.statementTimeoutMs)
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
