import { randomBytes } from 'node:crypto'
import { webSocketRequestContext } from '@trainer-chat/aws-edge'

/**
 * API Gateway WebSocket events as API Gateway sends them (and as local/ws-gateway.ts builds
 * them), for invoking the handler modules in-process.
 */

const API_ID = 'bench'
const STAGE = 'local'

export interface Endpoint {
  /** host:port of the local WebSocket API. */
  domainName: string
}

function requestContext(endpoint: Endpoint, connectionId: string, routeKey: string, eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT') {
  return webSocketRequestContext(
    {
      apiId: API_ID,
      stage: STAGE,
      domainName: endpoint.domainName,
      connectionId,
      connectedAt: Date.now() - 60_000,
      sourceIp: '127.0.0.1',
      userAgent: 'trainer-chat-bench',
    },
    routeKey,
    eventType,
  )
}

function handshakeHeaders(endpoint: Endpoint): Record<string, string> {
  return {
    Host: endpoint.domainName,
    'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    'User-Agent': 'trainer-chat-bench',
    'X-Forwarded-For': '127.0.0.1',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
  }
}

/**
 * The `$connect` REQUEST authorizer's event, the token in `?token=` as browsers send it. (The
 * aws-lambda typings describe the REST API's variant, with a path and method this one lacks.)
 */
export type WebSocketAuthorizerEvent = ReturnType<typeof authorizerEvent>

export function authorizerEvent(endpoint: Endpoint, connectionId: string, token: string) {
  const headers = handshakeHeaders(endpoint)
  return {
    type: 'REQUEST' as const,
    methodArn: `arn:aws:execute-api:us-east-1:000000000000:${API_ID}/${STAGE}/$connect`,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: { token },
    multiValueQueryStringParameters: { token: [token] },
    stageVariables: {},
    requestContext: requestContext(endpoint, connectionId, '$connect', 'CONNECT'),
  }
}

/** What API Gateway passes to every route of a connection after the authorizer allowed it. */
export function authorizerContext(result: { principalId: string; context?: Record<string, unknown> | null }) {
  return { ...(result.context ?? {}), principalId: result.principalId, integrationLatency: 1 }
}

export function connectEvent(endpoint: Endpoint, connectionId: string, token: string, authorizer: Record<string, unknown>) {
  const headers = handshakeHeaders(endpoint)
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: { token },
    multiValueQueryStringParameters: { token: [token] },
    isBase64Encoded: false,
    requestContext: { ...requestContext(endpoint, connectionId, '$connect', 'CONNECT'), authorizer },
  }
}

export function messageEvent(endpoint: Endpoint, connectionId: string, frame: { action: string } & Record<string, unknown>, authorizer: Record<string, unknown>) {
  return {
    body: JSON.stringify(frame),
    isBase64Encoded: false,
    requestContext: { ...requestContext(endpoint, connectionId, frame.action, 'MESSAGE'), authorizer },
  }
}

export function disconnectEvent(endpoint: Endpoint, connectionId: string, authorizer: Record<string, unknown>) {
  return {
    headers: { Host: endpoint.domainName, 'x-api-key': '', 'x-restapi': '' },
    isBase64Encoded: false,
    requestContext: {
      ...requestContext(endpoint, connectionId, '$disconnect', 'DISCONNECT'),
      disconnectStatusCode: 1000,
      disconnectReason: 'Client-side close frame status code',
      authorizer,
    },
  }
}
