import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { Context } from 'aws-lambda'
import { ChatError, publicError } from '../../lambdas/core/errors.ts'
import type { Delivery, Log, Outgoing } from '../../lambdas/core/ports.ts'
import { errorBodies, type HttpEvent, type HttpResult } from '../../lambdas/http/toolkit.ts'
import { errorFrames, type WebSocketEvent, type WebSocketResult } from '../../lambdas/websocket/toolkit.ts'

/** The middlewares on their own, with the collaborators they are given: no handler, no AWS. */

function recordingLog() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = []
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) })
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  return { log, lines }
}

function recordingDelivery() {
  const posted: Outgoing<ServerFrame>[] = []
  const disconnected: string[] = []
  const delivery: Delivery<ServerFrame> = {
    async post(outgoing) {
      posted.push(...outgoing)
      return { gone: [], failed: [] }
    },
    async disconnect(connectionId) {
      disconnected.push(connectionId)
    },
  }
  return { delivery, posted, disconnected }
}

const wsEvent = (body: string): WebSocketEvent => ({
  requestContext: { routeKey: 'sendMessage', eventType: 'MESSAGE', connectionId: 'conn-1' },
  body,
})

/** Runs a middleware's onError the way middy does: with the request, its error, and no response yet. */
async function onError<E, R>(middleware: { onError?: (request: never) => unknown }, event: E, error: unknown): Promise<{ response?: R }> {
  const request = { event, context: {} as Context, error, response: undefined as R | undefined, internal: {} }
  await middleware.onError?.(request as never)
  return request as { response?: R }
}

describe('publicError', () => {
  test('a ChatError is shown as it is', () => {
    const refusal = new ChatError('forbidden', 'no')
    assert.deepEqual(publicError(refusal), { error: refusal, unexpected: false })
  })

  test('anything else is `internal`, with no details of what happened', () => {
    const { error, unexpected } = publicError(new Error('relation "users" does not exist'))
    assert.equal(unexpected, true)
    assert.equal(error.code, 'internal')
    assert.equal(error.details, undefined)
    assert.doesNotMatch(error.message, /relation|users/)
  })
})

describe('errorFrames', () => {
  test('a refusal becomes one error frame on the caller’s connection, echoing its requestId, and the route answers 200', async () => {
    const { delivery, posted, disconnected } = recordingDelivery()
    const { log, lines } = recordingLog()
    const refusal = new ChatError('conversation_closed', 'closed', { conversationId: 'c' })

    const request = await onError<WebSocketEvent, WebSocketResult>(errorFrames({ delivery, log }), wsEvent('{"requestId":"r-1"}'), refusal)

    assert.deepEqual(posted, [
      { connectionId: 'conn-1', frame: { type: 'error', code: 'conversation_closed', message: 'closed', requestId: 'r-1', details: { conversationId: 'c' } } },
    ])
    assert.deepEqual(disconnected, [])
    assert.deepEqual(request.response, { statusCode: 200 })
    assert.deepEqual(lines, [], 'a refusal is not an error worth logging')
  })

  test('an unexpected error is logged by name and shown as `internal`', async () => {
    const { delivery, posted } = recordingDelivery()
    const { log, lines } = recordingLog()

    await onError(errorFrames({ delivery, log }), wsEvent('not json'), new TypeError('boom'))

    assert.equal(posted.length, 1)
    const frame = posted[0]?.frame as Extract<ServerFrame, { type: 'error' }>
    assert.equal(frame.code, 'internal')
    assert.equal(frame.requestId, undefined)
    assert.equal(lines.length, 1)
    assert.equal(lines[0]?.level, 'error')
    assert.equal(lines[0]?.fields?.errorName, 'TypeError')
    assert.equal(lines[0]?.fields?.connectionId, 'conn-1')
  })

  test('an unauthorized caller gets the frame without details, then is disconnected', async () => {
    const { delivery, posted, disconnected } = recordingDelivery()
    const { log } = recordingLog()

    await onError(errorFrames({ delivery, log }), wsEvent('{}'), new ChatError('unauthorized', 'expired', { reason: 'x' }))

    assert.deepEqual(posted.map((o) => o.frame), [{ type: 'error', code: 'unauthorized', message: 'expired' }])
    assert.deepEqual(disconnected, ['conn-1'])
  })
})

describe('errorBodies', () => {
  const httpEvent: HttpEvent = { routeKey: 'GET /me', requestContext: {} }

  test('a refusal becomes its status and a JSON error body', async () => {
    const { log, lines } = recordingLog()

    const request = await onError<HttpEvent, HttpResult>(errorBodies({ log }), httpEvent, new ChatError('not_found', 'gone', { id: 'x' }))

    assert.equal(request.response?.statusCode, 404)
    assert.deepEqual(JSON.parse(request.response?.body ?? ''), { error: { code: 'not_found', message: 'gone', details: { id: 'x' } } })
    assert.deepEqual(lines, [])
  })

  test('an unexpected error is a 500 with no internals, and is logged with its route', async () => {
    const { log, lines } = recordingLog()

    const request = await onError<HttpEvent, HttpResult>(errorBodies({ log }), httpEvent, new Error('connection refused 10.0.0.1'))

    assert.equal(request.response?.statusCode, 500)
    assert.doesNotMatch(request.response?.body ?? '', /10\.0\.0\.1|refused/)
    assert.equal(lines[0]?.fields?.routeKey, 'GET /me')
  })
})
