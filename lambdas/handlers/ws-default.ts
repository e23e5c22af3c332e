import middy, { type MiddlewareObj } from '@middy/core'
import { CLIENT_ACTIONS } from '@trainer-chat/protocol/server'
import type { Context } from 'aws-lambda'
import { config } from '../config.ts'
import { ChatError } from '../core/errors.ts'
import { errorFrames, type ErrorFrameOptions, type WebSocketEvent, type WebSocketResult } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { websocketDelivery } from '../wiring/delivery.ts'

/**
 * Route `$default`: API Gateway sends here every frame whose `action` matches no route
 * (including frames that are not JSON at all). Each gets one `bad_request` error frame.
 */
export async function defaultRoute(event: WebSocketEvent): Promise<WebSocketResult> {
  let action: unknown
  try {
    action = (JSON.parse(event.body ?? '') as { action?: unknown } | null)?.action
  } catch {
    throw new ChatError('bad_request', 'Frame is not valid JSON')
  }
  const expected = CLIENT_ACTIONS.join(', ')
  if (typeof action !== 'string') throw new ChatError('bad_request', `Frame needs an "action": one of ${expected}`)
  throw new ChatError('bad_request', `Unknown action "${action.slice(0, 64)}"; expected one of ${expected}`)
}

export const createDefaultHandler = (ports: ErrorFrameOptions, middlewares: MiddlewareObj[] = []) =>
  middy<WebSocketEvent, WebSocketResult, Error, Context>(defaultRoute).use(middlewares).use(errorFrames(ports))

const base = createBase(config())
export const handler = createDefaultHandler({ delivery: websocketDelivery(base), log: base.log }, base.middlewares)
