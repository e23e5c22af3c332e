import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { ChatError } from '../core/errors.ts'
import { CLIENT_ACTIONS } from '../core/protocol.ts'
import { errorFrames, type WebSocketEvent, type WebSocketResult } from './ws-route.ts'

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

export const handler = middy<WebSocketEvent, WebSocketResult, Error, Context>(defaultRoute).use(errorFrames())
