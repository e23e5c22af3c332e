import middy from '@middy/core'
import type { MiddlewareObj } from '@middy/core'
import { requestIdOf } from '@trainer-chat/protocol/server'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { Context } from 'aws-lambda'
import * as z from 'zod/mini'
import type { Caller } from '../core/chat.ts'
import { ChatError, describeError, nulIssues, publicError, validationIssues } from '../core/errors.ts'
import type { Delivery, Log } from '../core/ports.ts'

/**
 * The toolkit WebSocket handlers are built with: the event shape, frame parsing, and the
 * middleware that turns a refusal into an `error` frame.
 */

/** The part of an API Gateway WebSocket event our handlers read. */
export interface WebSocketEvent {
  requestContext: {
    routeKey: string
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT'
    connectionId: string
    requestId?: string
    domainName?: string
    stage?: string
    authorizer?: Record<string, unknown> | null
  }
  body?: string | null
  isBase64Encoded?: boolean
  headers?: Record<string, string | undefined> | null
  queryStringParameters?: Record<string, string | undefined> | null
}

export interface WebSocketResult {
  statusCode: number
  body?: string
}

export const OK: WebSocketResult = { statusCode: 200 }

/**
 * Time kept back from the function's remaining time: fan-out must be over by then, leaving room
 * for the gone-row cleanup, the push and middy's own early timeout, so the handler always ends on
 * its own terms instead of being cut by its deadline.
 */
export const FAN_OUT_RESERVE_MS = 2_000

/** Events whose action has taken effect and been answered: the error middleware must stay silent on them. */
const answeredEvents = new WeakSet<WebSocketEvent>()

/** What the error-frame middleware needs: where to post the frame, where to log the unexpected. */
export interface ErrorFrameOptions {
  delivery: Delivery<ServerFrame>
  log: Log
}

/**
 * Builds a WebSocket route handler: parse and validate the frame, run the use case with its
 * ports and the caller's connection, and map any refusal to an `error` frame on that connection.
 * A handler module only declares which frame, use case and ports; all that runs per frame is here.
 * Replies travel over PostToConnection (not route responses), so every route answers 200.
 */
export function wsAction<S extends z.ZodMiniType<{ requestId?: string | undefined }>, P extends ErrorFrameOptions>(
  schema: S,
  useCase: (ports: P, caller: Caller, frame: z.infer<S>) => Promise<unknown>,
  ports: P,
  middlewares: MiddlewareObj[] = [],
) {
  async function handle(event: WebSocketEvent, context: Context | undefined): Promise<WebSocketResult> {
    const frame = parseFrame(schema, event.body)
    const remaining = context?.getRemainingTimeInMillis?.()
    await useCase(
      ports,
      {
        connectionId: event.requestContext.connectionId,
        requestId: frame.requestId,
        answered: () => answeredEvents.add(event),
        ...(remaining === undefined ? {} : { deadline: Date.now() + Math.max(0, remaining - FAN_OUT_RESERVE_MS) }),
      },
      frame,
    )
    return OK
  }
  return middy<WebSocketEvent, WebSocketResult, Error, Context>(handle).use(middlewares).use(errorFrames(ports))
}

/** Parses a frame body as JSON and validates it; any problem is a `bad_request` naming the fields. */
export function parseFrame<S extends z.ZodMiniType>(schema: S, body: string | null | undefined): z.infer<S> {
  let json: unknown
  try {
    json = JSON.parse(body ?? '')
  } catch {
    throw new ChatError('bad_request', 'Frame is not valid JSON')
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ChatError('bad_request', 'Frame must be a JSON object')
  }
  const result = schema.safeParse(json)
  // JSON refuses a raw control character, so a NUL can only have come in as the escape `\u0000`:
  // when the text has none, there is nothing for the walk of the whole frame to find.
  const nul = body?.includes('\\u0000') ? nulIssues(json, 'frame') : []
  if (!result.success || nul.length > 0) {
    const issues = result.success ? nul : validationIssues(result.error.issues, 'frame')
    const summary = issues.map((issue) => `${issue.path || '(frame)'}: ${issue.message}`).join('; ')
    throw new ChatError('bad_request', `Invalid frame: ${summary}`, { issues })
  }
  return result.data
}

/**
 * Middleware: a refused or failed action becomes one `error` frame on the caller's connection.
 * Unexpected errors are logged (name and message, never the frame) and shown as `internal`.
 * An `unauthorized` caller (expired token, disabled account) is also disconnected.
 * A failure after the action was answered (its acknowledgement posted, a deadline during fan-out)
 * is logged and counted, and no frame is sent: one request, one answer.
 */
export function errorFrames({ delivery, log }: ErrorFrameOptions): MiddlewareObj<WebSocketEvent, WebSocketResult> {
  return {
    onError: async (request) => {
      const { event } = request
      if (answeredEvents.has(event)) {
        log.warn('failure after the answer; not reported to the caller', {
          routeKey: event.requestContext.routeKey,
          connectionId: event.requestContext.connectionId,
          failedAfterAnswer: 1,
          ...describeError(request.error),
        })
        request.response = OK
        return
      }
      const { error, unexpected } = publicError(request.error)
      if (unexpected) {
        log.error('unhandled error in WebSocket route', {
          routeKey: event.requestContext.routeKey,
          connectionId: event.requestContext.connectionId,
          ...describeError(request.error),
        })
      }
      const requestId = requestIdOf(event.body)
      const frame: ServerFrame = {
        type: 'error',
        code: error.code,
        message: error.message,
        ...(requestId === undefined ? {} : { requestId }),
        ...(error.details && error.code !== 'unauthorized' ? { details: error.details } : {}),
      }
      const { connectionId } = event.requestContext
      await delivery.post([{ connectionId, frame }])
      if (error.code === 'unauthorized') await delivery.disconnect(connectionId)
      request.response = OK
    },
  }
}
