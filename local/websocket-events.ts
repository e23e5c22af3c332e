import { randomBytes, randomUUID } from 'node:crypto'

/** Who and where a WebSocket event is about; the rest of the request context is generated. */
export interface WebSocketEventSource {
  apiId: string
  stage: string
  domainName: string
  connectionId: string
  connectedAt: number
  sourceIp: string
  userAgent: string
}

/**
 * `requestContext` of an API Gateway WebSocket event, shaped as API Gateway sends it. The local
 * gateway and the benchmarks both build events with it, so the handlers see one shape.
 */
export function webSocketRequestContext(
  source: WebSocketEventSource,
  routeKey: string,
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
) {
  const now = Date.now()
  return {
    routeKey,
    eventType,
    connectionId: source.connectionId,
    messageId: randomBytes(8).toString('base64'),
    extendedRequestId: randomUUID(),
    requestId: randomUUID(),
    requestTime: new Date(now).toUTCString(),
    requestTimeEpoch: now,
    messageDirection: 'IN',
    stage: source.stage,
    domainName: source.domainName,
    apiId: source.apiId,
    connectedAt: source.connectedAt,
    identity: { sourceIp: source.sourceIp, userAgent: source.userAgent },
  }
}
