import middy, { type MiddlewareObj } from '@middy/core'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { Context } from 'aws-lambda'
import * as z from 'zod/mini'
import { config } from '../config.ts'
import { connect } from '../core/chat.ts'
import { describeError, publicError } from '../core/errors.ts'
import type { ChatStore, Delivery, Log } from '../core/ports.ts'
import type { WebSocketEvent, WebSocketResult } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatStore, lambdaDatabase } from '../wiring/database.ts'
import { websocketDelivery } from '../wiring/delivery.ts'

/** What the `$connect` authorizer put in the context (see ws-authorizer.ts). */
const AuthorizerContext = z.object({
  sub: z.string().check(z.minLength(1)),
  email: z.string(),
  name: z.string(),
  groups: z.string(),
  tokenExpiresAt: z.coerce.number(),
})

export interface ConnectPorts {
  store: ChatStore
  /** Presence frames to the other participants, GetConnection for stale slots; optional (see core/chat.ts connect). */
  delivery?: Delivery<ServerFrame> | undefined
  log: Log
  maxConnectionsPerUser: number
}

/**
 * Route `$connect`: the authorizer has already verified the token. One statement creates the
 * user on first contact and registers the connection (with the token's expiry); at the limit,
 * connections API Gateway no longer knows are reclaimed first. The other participants hear
 * `presence` when this is the user's first connection. A non-2xx answer makes API Gateway
 * refuse the handshake.
 */
export function createConnectHandler(ports: ConnectPorts, middlewares: MiddlewareObj[] = []) {
  const connectRoute = async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const context = AuthorizerContext.safeParse(event.requestContext.authorizer ?? {})
    if (!context.success) return { statusCode: 401, body: 'Unauthorized' }
    const { sub, email, name, groups, tokenExpiresAt } = context.data
    try {
      await connect(ports, {
        connectionId: event.requestContext.connectionId,
        identity: { subject: sub, email, displayName: name, groups: parseGroups(groups) },
        tokenExpiresAt: new Date(tokenExpiresAt),
        maxConnectionsPerUser: ports.maxConnectionsPerUser,
      })
      return { statusCode: 200 }
    } catch (thrown) {
      const { error, unexpected } = publicError(thrown)
      if (unexpected) ports.log.error('connect failed', describeError(thrown))
      return { statusCode: error.status, body: error.message }
    }
  }
  return middy<WebSocketEvent, WebSocketResult, Error, Context>(connectRoute).use(middlewares)
}

/** The authorizer's groups, a JSON array of whole names; anything else is no group at all. */
export function parseGroups(json: string): string[] {
  const parsed = GroupList.safeParse(safeJson(json))
  return parsed.success ? parsed.data : []
}

const GroupList = z.array(z.string())

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const base = createBase(config())
export const handler = createConnectHandler({
  store: chatStore(base, lambdaDatabase(base)),
  delivery: websocketDelivery(base),
  log: base.log,
  maxConnectionsPerUser: base.config.maxConnectionsPerUser,
}, base.middlewares)
