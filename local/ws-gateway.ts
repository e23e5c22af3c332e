import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { WebSocketServer, type WebSocket } from 'ws'
import { invoke, type LambdaHandler } from './lambda-invoke.ts'
import { webSocketRequestContext } from './websocket-events.ts'

/**
 * A local API Gateway WebSocket API: the handshake runs the `$connect` REQUEST authorizer and
 * the `$connect` route before upgrading; each text frame is routed by its `action`
 * (`$request.body.action`) to that route's handler, else `$default`; a close runs
 * `$disconnect`. The same port serves the Management API (`/{stage}/@connections/{id}`), so
 * the handlers' SDK client works against it unchanged.
 */

/** API Gateway's limit for a WebSocket message; bigger ones close the connection with 1009. */
export const MAX_MESSAGE_BYTES = 128 * 1024

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
    connection.idleTimer = setTimeout(() => connection.socket.close(1001, 'Going away: idle timeout'), idleTimeoutMs).unref()
  }
  const mockReply = (body: string): string | undefined => {
    try {
      const action = (JSON.parse(body) as { action?: unknown } | null)?.action
      return typeof action === 'string' && Object.hasOwn(mockRoutes, action) ? mockRoutes[action] : undefined
    } catch {
      return undefined
    }
  }

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
    const match = /^\/[^/]+\/@connections\/([^/?]+)/.exec(request.url ?? '')
    if (!match) return reply(response, 404, { message: 'Not Found' })
    const connectionId = decodeURIComponent(match[1] as string)
    const connection = connections.get(connectionId)
    const body = await readBody(request)
    if (request.method === 'POST') attempts.set(connectionId, (attempts.get(connectionId) ?? 0) + 1)
    const fault = faults.get(connectionId)
    if (fault && request.method === 'POST') {
      if (--fault.times <= 0) faults.delete(connectionId)
      const type = fault.status === 410 ? 'GoneException' : fault.status === 429 ? 'LimitExceededException' : 'InternalServerErrorException'
      return reply(response, fault.status, { message: type }, { 'x-amzn-errortype': type })
    }
    if (!connection) return reply(response, 410, { message: 'Gone' }, { 'x-amzn-errortype': 'GoneException' })
    switch (request.method) {
      case 'POST':
        connection.socket.send(body.toString('utf8'))
        return reply(response, 200)
      case 'GET':
        return reply(response, 200, {
          ConnectedAt: new Date(connection.connectedAt).toISOString(),
          LastActiveAt: new Date(connection.lastActiveAt).toISOString(),
          Identity: { SourceIp: connection.sourceIp, UserAgent: connection.userAgent },
        })
      case 'DELETE':
        connection.socket.close(1000, 'Connection closed by the server')
        return reply(response, 204)
      default:
        return reply(response, 405, { message: 'Method Not Allowed' })
    }
  }

  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    void track(handshake(request, socket, head))
  })

  async function handshake(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    if (stopping) return refuse(socket, 503, 'Service Unavailable')
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
      if (statement?.Effect !== 'Allow') return refuse(socket, 403, 'Forbidden')
      authorizerContext = { ...(result.context ?? {}), principalId: result.principalId, integrationLatency: 0 }
    } catch {
      return refuse(socket, 401, 'Unauthorized')
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
    if (status < 200 || status > 299) return refuse(socket, status, 'Connection refused')

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
        lifetimeTimer: setTimeout(() => ws.close(1001, 'Going away: maximum connection duration'), maxConnectionMs).unref(),
      }
      connections.set(connectionId, live)
      armIdleTimer(live)
      // Oversized frames: ws closes the socket with 1009 (as API Gateway does) and reports an error here.
      ws.on('error', (error) => log(`connection ${connectionId}: ${error.message}`))
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
        void track(
          invoke(
            handler,
            {
              body,
              isBase64Encoded: isBinary,
              requestContext: requestContext(connectionId, routeKey, 'MESSAGE', { authorizer: connection.authorizer }),
            },
            routeKey,
          ).catch((error: unknown) => log(`handler ${routeKey} failed: ${String(error)}`)),
        )
      })
      ws.on('close', () => {
        clearTimeout(live.idleTimer)
        clearTimeout(live.lifetimeTimer)
        const connection = connections.get(connectionId)
        if (!connection) return
        connections.delete(connectionId)
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

  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve))
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
      for (const connection of connections.values()) connection.socket.close(1001, 'Going away')
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

function refuse(socket: Socket, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function reply(response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const payload = body === undefined ? '' : JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers })
  response.end(payload)
}
