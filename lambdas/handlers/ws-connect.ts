import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import * as z from 'zod/mini'
import { describeError, log } from '../adapters/logger.ts'
import { config } from '../config.ts'
import { connect } from '../core/chat.ts'
import { isChatError } from '../core/errors.ts'
import { chatPorts } from '../runtime.ts'
import type { WebSocketEvent, WebSocketResult } from './ws-route.ts'

/** What the `$connect` authorizer put in the context (see ws-authorizer.ts). */
const AuthorizerContext = z.object({
  sub: z.string().check(z.minLength(1)),
  email: z.string(),
  name: z.string(),
  groups: z.string(),
  tokenExpiresAt: z.coerce.number(),
})

/**
 * Route `$connect`: the authorizer has already verified the token. One statement creates the
 * user on first contact and registers the connection (with the token's expiry). A non-2xx
 * answer makes API Gateway refuse the handshake.
 */
export async function connectRoute(event: WebSocketEvent): Promise<WebSocketResult> {
  const context = AuthorizerContext.safeParse(event.requestContext.authorizer ?? {})
  if (!context.success) return { statusCode: 401, body: 'Unauthorized' }
  const { sub, email, name, groups, tokenExpiresAt } = context.data
  try {
    await connect(chatPorts().store, {
      connectionId: event.requestContext.connectionId,
      identity: { subject: sub, email, displayName: name, groups: groups ? groups.split(',') : [] },
      tokenExpiresAt: new Date(tokenExpiresAt),
      maxConnectionsPerUser: config().maxConnectionsPerUser,
    })
    return { statusCode: 200 }
  } catch (error) {
    if (isChatError(error)) return { statusCode: error.status, body: error.message }
    log.error('connect failed', describeError(error))
    return { statusCode: 500, body: 'Internal error' }
  }
}

export const handler = middy<WebSocketEvent, WebSocketResult, Error, Context>(connectRoute)
