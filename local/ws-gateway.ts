import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { isUtf8 } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  BodyTooLargeError,
  headerMap,
  invoke,
  MalformedUrlError,
  parseUrl,
  readBody as readBoundedBody,
  verifySignature,
  webSocketRequestContext,
  type Credentials,
  type LambdaHandler,
} from '@trainer-chat/aws-edge'
import { requestIdOf } from '@trainer-chat/protocol/server'
import { silentLog, type LocalLog } from './log.ts'
import { listenOn } from './startup-errors.ts'

/**
 * A local API Gateway WebSocket API: the handshake runs the `$connect` REQUEST authorizer and
 * the `$connect` route before upgrading; each text frame is routed by its `action`
 * (`$request.body.action`) to that route's handler, else `$default`; a close runs
 * `$disconnect`. The same port serves the Management API (`/{stage}/@connections/{id}`), so
 * the handlers' SDK client works against it unchanged.
 */

/** API Gateway's limit for a WebSocket message; bigger ones close the connection with 1009. */
export const MAX_MESSAGE_BYTES = 128 * 1024
/**
 * Bytes waiting to be written to a client that does not read its socket. Past this the
 * connection is closed (its posts then answer 410): API Gateway does not buffer without bound
 * either, and an unbounded buffer let ten paused clients grow the process by 160 MB.
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024

export interface WsGatewayOptions {
  port: number
  host: string
  stage: string
  authorizer: LambdaHandler
  routes: Record<string, LambdaHandler>
  /** Routes answered by the gateway itself, like a MOCK integration with a route response: action → reply body. */
  mockRoutes?: Record<string, string>
  /** API Gateway closes a connection that sent nothing for 10 minutes. */
  idleTimeoutSeconds?: number
  /** API Gateway closes every connection after 2 hours. */
  maxConnectionSeconds?: number
  log?: (line: string) => void
  /** Connects, refusals and disconnects at info; each frame in and out at debug. */
  logger?: LocalLog
  /** The variable that sets the port, named when the port is taken (default WS_PORT). */
  portVariable?: string
  /** Who may call the Management API (SigV4, service execute-api); default test/test like LocalStack. */
  credentials?: readonly Credentials[]
  region?: string
}

export const DEFAULT_IDLE_TIMEOUT_SECONDS = 600
export const DEFAULT_MAX_CONNECTION_SECONDS = 7200

interface LiveConnection {
  socket: WebSocket
  connectedAt: number
  lastActiveAt: number
  sourceIp: string
  userAgent: string
  authorizer: Record<string, unknown>
  idleTimer?: NodeJS.Timeout
  lifetimeTimer?: NodeJS.Timeout
  /** Why the gateway closed it, when it did (else the close code says). */
  closedBecause?: string
}

/** Test hook: make the Management API answer `status` for a connection the next `times` posts. */
export interface PostFault {
  status: number
  times: number
}

export interface WsGateway {
  url: string
  managementEndpoint: string
  port: number
  connectionIds(): string[]
  /** Drops a socket without running `$disconnect`, as when API Gateway loses the event. */
  dropWithoutDisconnect(connectionId: string): void
  injectPostFault(connectionId: string, fault: PostFault): void
  /** How many PostToConnection requests (answered or faulted) arrived for a connection: retries included. */
  postAttempts(connectionId: string): number
  /** Waits until every in-flight handler invocation has finished. */
  idle(): Promise<void>
  stop(): Promise<void>
}

export async function startWsGateway(options: WsGatewayOptions): Promise<WsGateway> {
  const connections = new Map<string, LiveConnection>()
  const faults = new Map<string, PostFault>()
  const attempts = new Map<string, number>()
  const inFlight = new Set<Promise<unknown>>()
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES })
  const domainName = `${options.host}:${options.port}`
  const log = options.log ?? (() => {})
  const idleTimeoutMs = (options.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_SECONDS) * 1000
  const maxConnectionMs = (options.maxConnectionSeconds ?? DEFAULT_MAX_CONNECTION_SECONDS) * 1000
  const mockRoutes = options.mockRoutes ?? {}
  let stopping = false

  // Like API Gateway, close with 1001 "Going away" when the connection idled too long or lived too long.
  const armIdleTimer = (connection: LiveConnection) => {
    clearTimeout(connection.idleTimer)
    connection.idleTimer = setTimeout(() => {
      connection.closedBecause ??= `idle for ${idleTimeoutMs / 1000} s`
      connection.socket.close(1001, 'Going away: idle timeout')
    }, idleTimeoutMs).unref()
  }
  const mockReply = (body: string): string | undefined => {
    try {
      const action = (JSON.parse(body) as { action?: unknown } | null)?.action
      return typeof action === 'string' && Object.hasOwn(mockRoutes, action) ? mockRoutes[action] : undefined
    } catch {
      return undefined
    }
  }
  const logger = options.logger ?? silentLog
  // A log's level is fixed when it is made: whether frames are logged is decided once, not per frame.
  const logFrames = logger.enabled('debug')
  const credentials = options.credentials ?? [{ accessKeyId: 'test', secretAccessKey: 'test' }]
  const region = options.region ?? 'us-east-1'
  /** `connectionId|requestId` → the error code posted back for that request (debug log outcomes). */
  const outcomes = new Map<string, string>()

  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise)
    void promise.finally(() => inFlight.delete(promise)).catch(() => {})
    return promise
  }

  const requestContext = (
    connectionId: string,
    routeKey: string,
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
    extra: Record<string, unknown> = {},
  ) => {
    const connection = connections.get(connectionId)
    const source = {
      apiId: 'local',
      stage: options.stage,
      domainName,
      connectionId,
      connectedAt: connection?.connectedAt ?? Date.now(),
      sourceIp: connection?.sourceIp ?? '127.0.0.1',
      userAgent: connection?.userAgent ?? '',
    }
    return { ...webSocketRequestContext(source, routeKey, eventType), ...extra }
  }

  const routeFor = (body: string): { routeKey: string; handler: LambdaHandler } => {
    try {
      const action = (JSON.parse(body) as { action?: unknown } | null)?.action
      // Only custom routes are selectable ($connect, $disconnect and $default never are), and only
      // own keys: "toString" or "constructor" must not find Object.prototype's functions.
      const handler = typeof action === 'string' && !action.startsWith('$') && Object.hasOwn(options.routes, action) ? options.routes[action] : undefined
      if (handler) return { routeKey: action as string, handler }
    } catch {
      // Not JSON: API Gateway routes it to $default.
    }
    return { routeKey: '$default', handler: options.routes.$default as LambdaHandler }
  }

  const server = createServer((request, response) => {
    void track(handleManagementApi(request, response))
  })

  async function handleManagementApi(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: ReturnType<typeof parseUrl>
    try {
      url = parseUrl(request.url ?? '/')
    } catch (error) {
      if (!(error instanceof MalformedUrlError)) throw error
      request.resume()
      return reply(response, 400, { message: 'Bad Request' })
    }
    const match = /^\/[^/]+\/@connections\/([^/?]+)$/.exec(url.rawPath)
    if (!match) {
      request.resume()
      return reply(response, 404, { message: 'Not Found' })
    }
    let connectionId: string
    try {
      connectionId = decodeURIComponent(match[1] as string)
    } catch {
      request.resume()
      return reply(response, 400, { message: 'Bad Request' })
    }
    let body: Buffer
    try {
      body = await readBoundedBody(request, MAX_MESSAGE_BYTES)
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error
      // API Gateway's answer to a PostToConnection payload over the 128 KB frame limit.
      return reply(response, 413, { message: 'Request Entity Too Large' }, { 'x-amzn-errortype': 'PayloadTooLargeException', connection: 'close' })
    }
    // The Management API is IAM-authorized: an unsigned or wrongly signed call is refused.
    const auth = await verifySignature(
      { service: 'execute-api', region, credentials, now: Date.now },
      { method: request.method ?? 'GET', url, headers: headerMap(request), body },
    )
    if (!auth.ok) {
      const type =
        auth.kind === 'missing' ? 'MissingAuthenticationTokenException' : auth.kind === 'unknownAccessKey' ? 'UnrecognizedClientException' : 'InvalidSignatureException'
      const message = auth.kind === 'missing' ? 'Missing Authentication Token' : auth.message
      return reply(response, 403, { message }, { 'x-amzn-errortype': type })
    }
    const connection = connections.get(connectionId)
    if (request.method === 'POST') attempts.set(connectionId, (attempts.get(connectionId) ?? 0) + 1)
    const fault = faults.get(connectionId)
    if (fault && request.method === 'POST') {
      if (--fault.times <= 0) faults.delete(connectionId)
      const type = fault.status === 410 ? 'GoneException' : fault.status === 429 ? 'LimitExceededException' : 'InternalServerErrorException'
      return reply(response, fault.status, { message: type }, { 'x-amzn-errortype': type })
    }
    if (!connection) return reply(response, 410, { message: 'Gone' }, { 'x-amzn-errortype': 'GoneException' })
    switch (request.method) {
      case 'POST': {
        if (connection.socket.bufferedAmount + body.length > MAX_BUFFERED_BYTES) {
          // The client is not reading: drop it rather than hold its frames without bound.
          closeConnection(connection, `client not reading: over ${MAX_BUFFERED_BYTES} bytes waiting`)
          return reply(response, 410, { message: 'Gone' }, { 'x-amzn-errortype': 'GoneException' })
        }
        // A text frame of the posted bytes as they are; only bytes that are not UTF-8 go through
        // the decoder (as before: invalid sequences become U+FFFD), which saves a decode and a
        // re-encode of every frame.
        connection.socket.send(isUtf8(body) ? body : body.toString('utf8'), { binary: false })
        if (logFrames) observePost(connectionId, body)
        return reply(response, 200)
      }
      case 'GET':
        return reply(response, 200, {
          ConnectedAt: new Date(connection.connectedAt).toISOString(),
          LastActiveAt: new Date(connection.lastActiveAt).toISOString(),
          Identity: { SourceIp: connection.sourceIp, UserAgent: connection.userAgent },
        })
      case 'DELETE':
        connection.closedBecause = 'closed by the backend (DeleteConnection)'
        connection.socket.close(1000, 'Connection closed by the server')
        return reply(response, 204)
      default:
        return reply(response, 405, { message: 'Method Not Allowed' })
    }
  }

  /** Debug log of a frame out; an error frame also becomes the outcome of the request it answers. */
  function observePost(connectionId: string, body: Buffer): void {
    let frame: { type?: unknown; code?: unknown; requestId?: unknown } = {}
    try {
      frame = JSON.parse(body.toString('utf8')) as typeof frame
    } catch {
      // not JSON: logged by size alone
    }
    const type = typeof frame.type === 'string' ? frame.type : '(not JSON)'
    logger.frameOut({ connectionId, type, bytes: body.length })
    if (type === 'error') {
      const key = `${connectionId}|${typeof frame.requestId === 'string' ? frame.requestId : ''}`
      outcomes.set(key, `error ${typeof frame.code === 'string' ? frame.code : ''}`.trim())
      // Bounded: outcomes nobody collects (a handler's late error) must not pile up.
      if (outcomes.size > 10_000) outcomes.clear()
    }
  }

  function closeConnection(connection: LiveConnection, because: string): void {
    connection.closedBecause = because
    connection.socket.terminate()
  }

  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    void track(handshake(request, socket, head))
  })

  async function handshake(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = performance.now()
    const refuseLogged = (status: number, reason: string, why: string, body?: unknown) => {
      logger.refused({ status, why, ms: Math.round(performance.now() - started) })
      refuse(socket, status, reason, body)
    }
    if (stopping) return refuseLogged(503, 'Service Unavailable', 'the stack is stopping')
    const connectionId = randomBytes(12).toString('base64')
    const url = new URL(request.url ?? '/', `http://${domainName}`)
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(',') : (value ?? '')]),
    )
    const queryStringParameters = Object.fromEntries(url.searchParams)
    const connectContext = requestContext(connectionId, '$connect', 'CONNECT')
    let authorizerContext: Record<string, unknown>
    try {
      const result = await invoke(
        options.authorizer,
        {
          type: 'REQUEST',
          methodArn: `arn:aws:execute-api:local:000000000000:local/${options.stage}/$connect`,
          headers,
          queryStringParameters,
          requestContext: connectContext,
        },
        'ws-authorizer',
      )
      const statement = result?.policyDocument?.Statement?.[0]
      if (statement?.Effect !== 'Allow') return refuseLogged(403, 'Forbidden', 'the authorizer denied it', { message: 'Forbidden' })
      authorizerContext = { ...(result.context ?? {}), principalId: result.principalId, integrationLatency: 0 }
    } catch (error) {
      const why = refusalReason(error)
      // API Gateway's body says only "Unauthorized"; the local gateway also says why, to save a debugging session.
      return refuseLogged(401, 'Unauthorized', why, { message: 'Unauthorized', reason: why })
    }
    const connected = await invoke(
      options.routes.$connect as LambdaHandler,
      {
        headers,
        queryStringParameters,
        isBase64Encoded: false,
        requestContext: { ...connectContext, authorizer: authorizerContext },
      },
      'ws-connect',
    ).catch(() => ({ statusCode: 500 }))
    const status = Number(connected?.statusCode ?? 200)
    if (status < 200 || status > 299) {
      const why = typeof connected?.body === 'string' && connected.body ? connected.body : '$connect refused it'
      return refuseLogged(status, 'Connection refused', why, { message: why })
    }
    const user = String(authorizerContext.email || authorizerContext.principalId || 'unknown')

    wss.handleUpgrade(request, socket, head, (ws) => {
      // Stopped while this handshake ran: a socket no Management API will ever know must not live on.
      if (stopping) return ws.terminate()
      const live: LiveConnection = {
        socket: ws,
        connectedAt: Date.now(),
        lastActiveAt: Date.now(),
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
        authorizer: authorizerContext,
        lifetimeTimer: setTimeout(() => {
          live.closedBecause ??= `connected for ${maxConnectionMs / 1000} s, the maximum`
          ws.close(1001, 'Going away: maximum connection duration')
        }, maxConnectionMs).unref(),
      }
      connections.set(connectionId, live)
      armIdleTimer(live)
      logger.connected({ connectionId, user })
      // Oversized frames: ws closes the socket with 1009 (as API Gateway does) and reports an error here.
      ws.on('error', (error) => {
        const connection = connections.get(connectionId)
        if (connection) connection.closedBecause ??= error.message.includes('Max payload') ? `frame over ${MAX_MESSAGE_BYTES} bytes` : error.message
        log(`connection ${connectionId}: ${error.message}`)
      })
      ws.on('message', (data, isBinary) => {
        const connection = connections.get(connectionId)
        if (!connection) return
        connection.lastActiveAt = Date.now()
        armIdleTimer(connection)
        const body = isBinary ? Buffer.from(data as Buffer).toString('base64') : data.toString()
        const mocked = isBinary ? undefined : mockReply(body)
        if (mocked !== undefined) {
          ws.send(mocked)
          return
        }
        const { routeKey, handler } = routeFor(body)
        const started = logFrames ? performance.now() : 0
        const requestId = logFrames ? requestIdOf(body) : undefined
        void track(
          invoke(
            handler,
            {
              body,
              isBase64Encoded: isBinary,
              requestContext: requestContext(connectionId, routeKey, 'MESSAGE', { authorizer: connection.authorizer }),
            },
            routeKey,
          )
            .then(() => 'ok')
            .catch((error: unknown) => {
              log(`handler ${routeKey} failed: ${String(error)}`)
              return 'handler threw'
            })
            .then((result) => {
              if (!logFrames) return
              const key = `${connectionId}|${requestId ?? ''}`
              const outcome = outcomes.get(key) ?? result
              outcomes.delete(key)
              logger.frameIn({ connectionId, action: routeKey, requestId, ms: Math.round(performance.now() - started), outcome })
            }),
        )
      })
      ws.on('close', (code, reason) => {
        clearTimeout(live.idleTimer)
        clearTimeout(live.lifetimeTimer)
        const connection = connections.get(connectionId)
        if (!connection) return
        connections.delete(connectionId)
        logger.disconnected({ connectionId, user, code, why: connection.closedBecause ?? describeClose(code, reason.toString()) })
        void track(
          invoke(
            options.routes.$disconnect as LambdaHandler,
            { requestContext: requestContext(connectionId, '$disconnect', 'DISCONNECT', { authorizer: connection.authorizer }) },
            '$disconnect',
          ).catch((error: unknown) => log(`$disconnect failed: ${String(error)}`)),
        )
      })
    })
  }

  await listenOn(server, options.port, options.host, options.portVariable ?? 'WS_PORT')
  const port = (server.address() as AddressInfo).port

  return {
    url: `ws://${options.host}:${port}`,
    managementEndpoint: `http://${options.host}:${port}/${options.stage}`,
    port,
    connectionIds: () => [...connections.keys()],
    dropWithoutDisconnect(connectionId) {
      const connection = connections.get(connectionId)
      if (!connection) return
      connections.delete(connectionId)
      logger.disconnected({ connectionId, user: String(connection.authorizer.email ?? ''), code: 1006, why: 'dropped without $disconnect (test hook)' })
      connection.socket.terminate()
    },
    injectPostFault(connectionId, fault) {
      faults.set(connectionId, { ...fault })
    },
    postAttempts: (connectionId) => attempts.get(connectionId) ?? 0,
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
    },
    async stop() {
      stopping = true
      for (const connection of connections.values()) {
        connection.closedBecause = 'the stack is stopping'
        connection.socket.close(1001, 'Going away')
      }
      // Let the close handshakes arrive and $disconnect run, but never wait forever.
      const deadline = Date.now() + 3000
      while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      for (const connection of connections.values()) connection.socket.terminate()
      while (inFlight.size > 0 && Date.now() < deadline) await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 100))])
      wss.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
    },
  }
}

function refuse(socket: Socket, status: number, reason: string, body?: unknown): void {
  const payload = body === undefined ? '' : JSON.stringify(body)
  const type = body === undefined ? '' : 'Content-Type: application/json\r\n'
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n${type}Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`)
}

/** Why the authorizer refused a token, in words (its error's cause carries the verifier's reason code). */
function refusalReason(error: unknown): string {
  const cause = (error as { cause?: { details?: { reason?: unknown } } } | null)?.cause
  if (cause === undefined) return 'no token: send Authorization: Bearer <jwt> or ?token=<jwt>'
  const reason = cause.details?.reason
  switch (reason) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired: mint a new one (npm run token -- <email> --ttl 8h)'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'the token is not signed by this stack’s issuer (was DATA_DIR changed since it was minted?)'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return 'the token’s issuer or audience is not this stack’s (mint it with the same HTTP_PORT and DATA_DIR)'
    case 'ERR_JWKS_UNAVAILABLE':
      return 'the identity provider’s key set is unavailable'
    default:
      return `invalid token (${String(reason)})`
  }
}

function describeClose(code: number, reason: string): string {
  if (code === 1000 || code === 1001) return reason ? `client closed: ${reason.slice(0, 80)}` : 'client closed'
  if (code === 1005) return 'client closed'
  if (code === 1006) return 'connection lost'
  return reason ? `closed ${reason.slice(0, 80)}` : 'closed'
}

function reply(response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const payload = body === undefined ? '' : JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers })
  response.end(payload)
}
