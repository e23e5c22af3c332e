import { PGlite } from '@electric-sql/pglite'
import { Kysely, type LogEvent } from 'kysely'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { config, parseConfig, resetConfig } from '../lambdas/config.ts'
import { provideDatabase, resetRuntime, tokenVerifier } from '../lambdas/runtime.ts'
import { handler as appHandler, appRoutes } from '../lambdas/handlers/http-app.ts'
import { handler as adminHandler, adminRoutes } from '../lambdas/handlers/http-admin.ts'
import { handler as authorizer } from '../lambdas/handlers/ws-authorizer.ts'
import { handler as connect } from '../lambdas/handlers/ws-connect.ts'
import { handler as defaultRoute } from '../lambdas/handlers/ws-default.ts'
import { handler as disconnect } from '../lambdas/handlers/ws-disconnect.ts'
import { handler as joinConversation } from '../lambdas/handlers/ws-join-conversation.ts'
import { handler as leaveConversation } from '../lambdas/handlers/ws-leave-conversation.ts'
import { handler as markAsRead } from '../lambdas/handlers/ws-mark-as-read.ts'
import { handler as sendMessage } from '../lambdas/handlers/ws-send-message.ts'
import { handler as typing } from '../lambdas/handlers/ws-typing.ts'
import type { AwsEdge } from './aws-edge/index.ts'
import { startLocalAws, type LocalAws } from './aws.ts'
import { startHttpGateway, type HttpGateway, type HttpGatewayRoute } from './http-gateway.ts'
import { loadIssuer, type LocalIssuer } from './issuer.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { seedDemoData } from './seed.ts'
import { DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_CONNECTION_SECONDS, startWsGateway, type WsGateway } from './ws-gateway.ts'
import { PING_ACTION, PONG_REPLY } from '../lambdas/core/protocol.ts'

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
  /** API Gateway's idle timeout and maximum connection duration; default WS_IDLE_TIMEOUT_SECONDS (600), WS_MAX_CONNECTION_SECONDS (7200). */
  wsIdleTimeoutSeconds?: number
  wsMaxConnectionSeconds?: number
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
  /** A token for a user, as the local issuer (standing in for Cognito) would mint it. */
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

  const { db, close: closeDatabase, kind } = await openDatabase(dataDir, options.databaseUrl, options.onQuery, options.pgliteBeforeQuery)
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
      region: process.env.AWS_REGION ?? 'us-east-1',
      bucket: process.env.ATTACHMENTS_BUCKET ?? 'trainer-chat-attachments',
    })
  } catch (error) {
    await closeDatabase()
    throw error
  }

  let issuer: LocalIssuer | undefined
  const http = await startHttpGateway({
    port: options.httpPort ?? 3000,
    host,
    routes: [
      ...appRoutes.map((route): HttpGatewayRoute => ({ ...route, handler: appHandler, functionName: 'http-app' })),
      ...adminRoutes.map((route): HttpGatewayRoute => ({ ...route, handler: adminHandler, functionName: 'http-admin' })),
    ],
    verifier: tokenVerifier,
    staticJson: { '/local-issuer/.well-known/jwks.json': () => issuer?.jwks ?? { keys: [] } },
    ...(options.log ? { log: options.log } : {}),
  })
  // The issuer before the WebSocket API takes handshakes: a JWKS served empty meanwhile would be
  // cached by the authorizer and refuse every token until its refetch cooldown ends.
  issuer = await loadIssuer(dataDir, localIssuerUrl(host, http.port), LOCAL_AUDIENCE)
  const ws = await startWsGateway({
    port: options.wsPort ?? 3001,
    host,
    stage: LOCAL_STAGE,
    authorizer,
    routes: {
      $connect: connect,
      $disconnect: disconnect,
      $default: defaultRoute,
      sendMessage,
      typing,
      markAsRead,
      joinConversation,
      leaveConversation,
    },
    // In AWS: the `ping` route's MOCK integration and route response (lib/constructs/websocket-api.ts).
    mockRoutes: { [PING_ACTION]: PONG_REPLY },
    idleTimeoutSeconds: options.wsIdleTimeoutSeconds ?? secondsFromEnv('WS_IDLE_TIMEOUT_SECONDS', DEFAULT_IDLE_TIMEOUT_SECONDS),
    maxConnectionSeconds: options.wsMaxConnectionSeconds ?? secondsFromEnv('WS_MAX_CONNECTION_SECONDS', DEFAULT_MAX_CONNECTION_SECONDS),
    ...(options.log ? { log: options.log } : {}),
  })

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
  resetConfig()
  resetRuntime()
  provideDatabase(db)
  config()

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
    async stop() {
      await ws.stop()
      await http.stop()
      await aws.stop()
      await closeDatabase()
      resetRuntime()
    },
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
