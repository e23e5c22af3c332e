import { PGlite } from '@electric-sql/pglite'
import { Kysely, type LogEvent } from 'kysely'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { createTokenVerifier } from '../lambdas/adapters/jwt.ts'
import { createAttachmentStore } from '../lambdas/adapters/attachment-store.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { parseConfig, type Config } from '../lambdas/config.ts'
import { createThrottle } from '../lambdas/core/throttle.ts'
import { adminPorts, createAdminApi } from '../lambdas/handlers/http-admin.ts'
import { appPorts, createAppApi } from '../lambdas/handlers/http-app.ts'
import { createSweepHandler } from '../lambdas/handlers/attachments-sweep.ts'
import { createAuthorizer } from '../lambdas/handlers/ws-authorizer.ts'
import { createConnectHandler } from '../lambdas/handlers/ws-connect.ts'
import { createDefaultHandler } from '../lambdas/handlers/ws-default.ts'
import { createDisconnectHandler } from '../lambdas/handlers/ws-disconnect.ts'
import { createJoinConversationHandler, joinPorts } from '../lambdas/handlers/ws-join-conversation.ts'
import { createLeaveConversationHandler } from '../lambdas/handlers/ws-leave-conversation.ts'
import { createMarkAsReadHandler } from '../lambdas/handlers/ws-mark-as-read.ts'
import { createSendMessageHandler, sendMessagePorts } from '../lambdas/handlers/ws-send-message.ts'
import { createTypingHandler } from '../lambdas/handlers/ws-typing.ts'
import { httpRoutes } from '../lambdas/http/routes.ts'
import { WEBSOCKET_ROUTES, type WebSocketHandlerName } from '../lambdas/websocket/routes.ts'
import { attachmentPolicy, attachmentStorage } from '../lambdas/wiring/attachments.ts'
import { createBase } from '../lambdas/wiring/base.ts'
import { chatPorts, chatStore } from '../lambdas/wiring/database.ts'
import { websocketDelivery } from '../lambdas/wiring/delivery.ts'
import type { AwsEdge } from '@trainer-chat/aws-edge'
import { startLocalAws, type LocalAws } from './aws.ts'
import { startHttpGateway, type HttpGateway } from './http-gateway.ts'
import { loadIssuer, type LocalIssuer } from './issuer.ts'
import type { LambdaHandler } from './lambda-invoke.ts'
import { consoleSites } from './console-sites.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { seedDemoData } from './seed.ts'
import { DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_CONNECTION_SECONDS, startWsGateway, type WsGateway } from './ws-gateway.ts'
import { PING_ACTION, PONG_REPLY } from '@trainer-chat/protocol'

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
  /** The AWS edge's port (S3, SNS); default 4566 like LocalStack, 0 picks a free port (tests). */
  awsPort?: number
  /** Use this AWS endpoint (a real LocalStack) instead of starting the edge; default AWS_ENDPOINT_URL. */
  awsEndpointUrl?: string | undefined
  /** Handler settings (the variables of lambdas/config.ts) over process.env's, e.g. `{ LOG_LEVEL: 'warn' }`. */
  settings?: Record<string, string>
  /** API Gateway's idle timeout and maximum connection duration; default WS_IDLE_TIMEOUT_SECONDS (600), WS_MAX_CONNECTION_SECONDS (7200). */
  wsIdleTimeoutSeconds?: number
  wsMaxConnectionSeconds?: number
  /** The built moderation console served at /console/; default console/dist. */
  consoleDir?: string
  /** Lifetime of the hosted UI's id and access tokens; default one hour (tests shorten it to see a refresh). */
  consoleTokenLifetimeSeconds?: number
}

/** Every Lambda handler of the stack, by function name, as the gateways invoke them. */
export type LocalHandlers = Record<WebSocketHandlerName | 'ws-authorizer' | 'http-app' | 'http-admin' | 'attachments-sweep', LambdaHandler>

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
  stop(): Promise<void>
}

export const LOCAL_AUDIENCE = 'trainer-chat-local'
export const LOCAL_STAGE = 'local'

export function localIssuerUrl(host: string, httpPort: number): string {
  return `http://${host}:${httpPort}/local-issuer`
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const host = options.host ?? '127.0.0.1'
  const dataDir = resolve(options.dataDir)
  await mkdir(dataDir, { recursive: true })

  // What the stack needs before its ports are known; the handlers' full settings follow below.
  const initial = parseConfig({ ...process.env, ...options.settings })
  const { db, close: closeDatabase, kind } = await openDatabase(
    dataDir,
    options.databaseUrl,
    initial.database.statementTimeoutMs,
    options.onQuery,
    options.pgliteBeforeQuery,
  )
  try {
    await migrateToLatest(db)
    if (options.seed !== false) await seedDemoData(db)
  } catch (error) {
    await closeDatabase()
    throw error
  }

  let aws: LocalAws
  try {
    aws = await startLocalAws({
      dataDir,
      host,
      port: options.awsPort ?? 4566,
      externalUrl: options.awsEndpointUrl ?? process.env.AWS_ENDPOINT_URL,
      region: initial.region,
      bucket: initial.attachments.bucket,
    })
  } catch (error) {
    await closeDatabase()
    throw error
  }

  let issuer: LocalIssuer | undefined
  // The gateways start first (their ports go into the handlers' settings), then the handlers are
  // built; until then, and across reconfigure(), the gateways invoke whatever `handlers` holds.
  let handlers: LocalHandlers | undefined
  const current = (name: keyof LocalHandlers): LambdaHandler => (event, context) => {
    if (!handlers) throw new Error('the local stack is still starting')
    return handlers[name](event, context)
  }
  let verifier: ReturnType<typeof createTokenVerifier> | undefined
  const wsRoutes: Record<string, LambdaHandler> = {}
  const http = await startHttpGateway({
    port: options.httpPort ?? 3000,
    host,
    routes: httpRoutes().map((route) => ({ routeKey: route.key, access: route.access, handler: current(route.handler), functionName: route.handler })),
    verifier: () => {
      if (!verifier) throw new Error('the local stack is still starting')
      return verifier
    },
    staticJson: { '/local-issuer/.well-known/jwks.json': () => issuer?.jwks ?? { keys: [] } },
    sites: consoleSites({ issuer: () => issuer, httpUrl: () => http.url, clientId: LOCAL_AUDIENCE, ...options }),
    ...(options.log ? { log: options.log } : {}),
  })
  // The issuer before the WebSocket API takes handshakes: a JWKS served empty meanwhile would be
  // cached by the authorizer and refuse every token until its refetch cooldown ends.
  issuer = await loadIssuer(dataDir, localIssuerUrl(host, http.port), LOCAL_AUDIENCE)
  const ws = await startWsGateway({
    port: options.wsPort ?? 3001,
    host,
    stage: LOCAL_STAGE,
    authorizer: current('ws-authorizer'),
    // Filled in place below (and again by reconfigure): the gateway looks a route up per frame,
    // so a frame goes from the gateway straight to its handler.
    routes: wsRoutes,
    // In AWS: the `ping` route's MOCK integration and route response (lib/constructs/websocket-api.ts).
    mockRoutes: { [PING_ACTION]: PONG_REPLY },
    idleTimeoutSeconds: options.wsIdleTimeoutSeconds ?? secondsFromEnv('WS_IDLE_TIMEOUT_SECONDS', DEFAULT_IDLE_TIMEOUT_SECONDS),
    maxConnectionSeconds: options.wsMaxConnectionSeconds ?? secondsFromEnv('WS_MAX_CONNECTION_SECONDS', DEFAULT_MAX_CONNECTION_SECONDS),
    ...(options.log ? { log: options.log } : {}),
  })

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
  // The management API, S3 and SNS clients sign their requests; any credentials do locally.
  const credentials = {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
  }
  let config = parseConfig(startupSettings)
  const build = (settings: Config): LocalHandlers => {
    verifier = createTokenVerifier(settings.jwt)
    const built = buildHandlers(settings, db, verifier, credentials)
    for (const route of WEBSOCKET_ROUTES) wsRoutes[route.key] = built[route.handler]
    return built
  }
  handlers = build(config)

  return {
    httpUrl: http.url,
    wsUrl: ws.url,
    issuer,
    db,
    ws,
    http,
    databaseKind: kind,
    awsUrl: aws.url,
    aws: aws.edge,
    handlers: () => handlers as LocalHandlers,
    config: () => config,
    reconfigure(settings) {
      config = parseConfig({ ...startupSettings, ...settings })
      handlers = build(config)
    },
    async stop() {
      await ws.stop()
      await http.stop()
      await aws.stop()
      await closeDatabase()
    },
  }
}

/** The same factories Lambda's handler modules bind at module scope, over this stack's database and settings. */
function buildHandlers(
  config: Config,
  db: Kysely<Database>,
  verifier: ReturnType<typeof createTokenVerifier>,
  credentials: { accessKeyId: string; secretAccessKey: string },
): LocalHandlers {
  const base = createBase(config, { credentials, lambda: false })
  const chat = chatPorts(base, db)
  return {
    'ws-authorizer': createAuthorizer({ verifier, allowedOrigins: config.allowedOrigins, log: base.log }),
    'ws-connect': createConnectHandler({ store: chatStore(base, db), log: base.log, maxConnectionsPerUser: config.maxConnectionsPerUser }),
    'ws-disconnect': createDisconnectHandler(chat),
    'ws-default': createDefaultHandler({ delivery: websocketDelivery(base), log: base.log }),
    'ws-send-message': createSendMessageHandler(sendMessagePorts(base, db)),
    'ws-typing': createTypingHandler({ ...chat, typingThrottle: createThrottle(config.typingRateLimit) }),
    'ws-mark-as-read': createMarkAsReadHandler(chat),
    'ws-join-conversation': createJoinConversationHandler(joinPorts(base, db)),
    'ws-leave-conversation': createLeaveConversationHandler(chat),
    'http-app': createAppApi(appPorts(base, db)).handler,
    'http-admin': createAdminApi(adminPorts(base, db)).handler,
    'attachments-sweep': createSweepHandler({
      store: createAttachmentStore(db),
      storage: attachmentStorage(base),
      policy: attachmentPolicy(base),
      log: base.log,
    }),
  }
}

function secondsFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const seconds = Number(raw)
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`${name} must be a positive number of seconds, got "${raw}"`)
  return seconds
}

async function openDatabase(
  dataDir: string,
  databaseUrl: string | undefined,
  statementTimeoutMs: number,
  onQuery: ((sql: string) => void) | undefined,
  beforeQuery: ((sql: string) => void | Promise<void>) | undefined,
): Promise<{ db: Kysely<Database>; close(): Promise<void>; kind: 'postgres' | 'pglite' }> {
  const log = onQuery ? (event: LogEvent) => onQuery(event.query.sql) : undefined
  if (databaseUrl) {
    // The handlers' statement timeout (DB_STATEMENT_TIMEOUT_MS), as a Lambda container would have it.
    const settings = databaseSettingsFromUrl(databaseUrl, statementTimeoutMs)
    const db = createPostgresDatabase(settings, { poolSize: 10, ...(log ? { log } : {}) })
    return { db, close: () => db.destroy(), kind: 'postgres' }
  }
  const pglite = new PGlite(join(dataDir, 'pgdata'))
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
