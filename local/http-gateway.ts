import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { decodeJwt } from 'jose'
import { extractToken, type TokenVerifier } from '../lambdas/adapters/jwt.ts'
import type { HttpAccess } from '../lambdas/http/routes.ts'
import { invoke, type LambdaHandler } from '@trainer-chat/aws-edge'
import { silentLog, type LocalLog } from './log.ts'
import { listenOn } from './startup-errors.ts'

/**
 * A local API Gateway HTTP API (payload format 2.0): matches the request to a route key,
 * runs the JWT authorizer for protected routes (401 `{"message":"Unauthorized"}` like API
 * Gateway), and invokes the Lambda handler that owns the route. Extra static routes (the local
 * issuer's JWKS) are served directly.
 */

export interface HttpGatewayRoute {
  routeKey: string
  access: HttpAccess
  handler: LambdaHandler
  functionName: string
}

export interface HttpGatewayOptions {
  port: number
  host: string
  routes: readonly HttpGatewayRoute[]
  verifier: () => TokenVerifier
  staticJson: Record<string, () => unknown>
  /** Tried in order before the routes; each resolves true when it answered (the hosted UI, the console's files). */
  sites?: ReadonlyArray<(request: IncomingMessage, response: ServerResponse) => Promise<boolean>>
  log?: (line: string) => void
  /** One line per request (method, path without query, status, duration, function). */
  logger?: LocalLog
  /** The variable that sets the port, named when the port is taken (default HTTP_PORT). */
  portVariable?: string
}

export interface HttpGateway {
  url: string
  port: number
  stop(): Promise<void>
}

/** API Gateway's payload limit for HTTP APIs. */
const MAX_BODY_BYTES = 10 * 1024 * 1024
/** API Gateway keeps idle client connections about 60 s; Node's 5 s default makes reused sockets fail. */
export const KEEP_ALIVE_TIMEOUT_MS = 60_000

/** A path segment that is not valid percent-encoding (`%E0%A4%A`): API Gateway answers 400. */
class MalformedPathError extends Error {}

export async function startHttpGateway(options: HttpGatewayOptions): Promise<HttpGateway> {
  const matchers = options.routes.map((route) => {
    const [method, path] = route.routeKey.split(' ') as [string, string]
    const names: string[] = []
    const pattern = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name)
      return '([^/]+)'
    })
    return { route, method, regex: new RegExp(`^${pattern}$`), names }
  })
  const log = options.log ?? (() => {})
  const logger = options.logger ?? silentLog

  const server = createServer((request, response) => {
    const started = performance.now()
    const served: Served = { path: undefined, fn: undefined }
    response.once('finish', () => {
      logger.http({
        method: request.method ?? 'GET',
        path: served.path ?? pathOnly(request.url),
        status: response.statusCode,
        ms: Math.round(performance.now() - started),
        fn: served.fn,
      })
    })
    handle(request, response, served).catch((error: unknown) => {
      if (error instanceof MalformedPathError) {
        if (!response.headersSent) send(response, 400, { message: 'Bad Request: malformed percent-encoding in the path' })
        return
      }
      log(`local HTTP gateway error: ${String(error)}`)
      if (!response.headersSent) send(response, 500, { message: 'Internal Server Error' })
    })
  })
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
  // Headers must be allowed to take at least as long as an idle keep-alive connection lasts.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 5_000

  async function handle(request: IncomingMessage, response: ServerResponse, served: Served): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://local')
    const method = request.method ?? 'GET'
    const staticBody = options.staticJson[url.pathname]
    if (method === 'GET' && staticBody) return send(response, 200, staticBody())
    for (const site of options.sites ?? []) if (await site(request, response)) return

    let params: Record<string, string> = {}
    const matched = matchers.find((m) => {
      if (m.method !== method) return false
      const found = m.regex.exec(url.pathname)
      if (!found) return false
      params = Object.fromEntries(m.names.map((name, i) => [name, decodePathSegment(found[i + 1] as string)]))
      return true
    })
    if (!matched) return send(response, 404, { message: 'Not Found' })
    // Device tokens travel in paths (DELETE /devices/{token}): log the route's template for those.
    served.path = matched.names.includes('token') ? (matched.route.routeKey.split(' ')[1] as string) : url.pathname
    served.fn = matched.route.functionName

    const body = await readBody(request)
    if (body === undefined) return send(response, 413, { message: 'Request Entity Too Large' })
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : (value ?? '')]),
    )

    let authorizer: { jwt: { claims: Record<string, unknown>; scopes: null } } | undefined
    if (matched.route.access !== 'public') {
      // The HTTP API JWT authorizer reads only the Authorization header.
      const token = extractToken({ authorization: headers.authorization })
      if (!token) return send(response, 401, { message: 'Unauthorized' })
      try {
        await options.verifier()(token)
        // As API Gateway's JWT authorizer: every claim of the verified token, flattened to strings
        // (arrays as "[a b]"), so the handlers apply their own rule to them as they do in AWS.
        authorizer = { jwt: { claims: flattenClaims(decodeJwt(token)), scopes: null } }
      } catch {
        return send(response, 401, { message: 'Unauthorized' })
      }
    }

    const result = await invoke(
      matched.route.handler,
      {
        version: '2.0',
        routeKey: matched.route.routeKey,
        rawPath: url.pathname,
        rawQueryString: url.search.replace(/^\?/, ''),
        headers,
        ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
        ...(matched.names.length ? { pathParameters: params } : {}),
        ...(body.length ? { body: body.toString('utf8'), isBase64Encoded: false } : { isBase64Encoded: false }),
        requestContext: {
          accountId: '000000000000',
          apiId: 'local',
          domainName: headers.host ?? 'localhost',
          requestId: randomUUID(),
          routeKey: matched.route.routeKey,
          stage: '$default',
          time: new Date().toISOString(),
          timeEpoch: Date.now(),
          http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: request.socket.remoteAddress ?? '', userAgent: headers['user-agent'] ?? '' },
          ...(authorizer ? { authorizer } : {}),
        },
      },
      matched.route.functionName,
    )
    response.writeHead(result.statusCode ?? 200, result.headers ?? { 'content-type': 'application/json' })
    response.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''))
  }

  await listenOn(server, options.port, options.host, options.portVariable ?? 'HTTP_PORT')
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${options.host}:${port}`,
    port,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}

interface Served {
  path: string | undefined
  fn: string | undefined
}

/** The path of a request target, never its query string (which can carry a token). */
function pathOnly(target: string | undefined): string {
  // An unmatched device path (a wrong method) still carries the device token.
  const path = ((target ?? '/').split('?')[0] ?? '/').replace(/^\/devices\/[^/]+/, '/devices/{token}')
  return path.length > 200 ? `${path.slice(0, 200)}…` : path
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new MalformedPathError()
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
  response.end(payload)
}

/** API Gateway's HTTP API form of JWT claims: strings, arrays as "[a b]", objects as JSON. */
export function flattenClaims(payload: Record<string, unknown>): Record<string, string> {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined || value === null) continue
    flat[name] = Array.isArray(value) ? `[${value.map(String).join(' ')}]` : typeof value === 'object' ? JSON.stringify(value) : String(value)
  }
  return flat
}
