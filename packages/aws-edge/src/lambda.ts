import type { Context } from 'aws-lambda'
import { randomBytes, randomUUID } from 'node:crypto'

/**
 * The Lambda side of a local invocation: a handler called as the Lambda runtime calls it (with a
 * plausible context, its deadline counting down), and a WebSocket event's `requestContext` as
 * API Gateway shapes it. In AWS both are AWS's code; locally the gateways and the benchmarks
 * play them with these, so the handlers see one shape everywhere.
 */

/** A Lambda handler as the local gateways call it: our handlers are middy functions (event, context). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LambdaHandler<E = any, R = any> = (event: E, context: Context) => Promise<R>

/** Invokes a handler module's export the way the Lambda runtime does, with a plausible context. */
export async function invoke<E, R>(handler: LambdaHandler<E, R>, event: E, functionName: string): Promise<R> {
  const deadline = Date.now() + 30_000
  const context: Context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
  return handler(event, context)
}

// ---- WebSocket events ----

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
