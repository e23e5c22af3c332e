import middy, { type MiddlewareObj } from '@middy/core'
import type { Context } from 'aws-lambda'
import { config } from '../config.ts'
import { disconnect, type ChatPorts } from '../core/chat.ts'
import { OK, type WebSocketEvent, type WebSocketResult } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/**
 * Route `$disconnect`: forget the connection and tell the other participants (userLeft,
 * presence). API Gateway does not retry it, so fan-out also cleans up (410), and $connect
 * reclaims slots of connections API Gateway no longer knows.
 */
export function createDisconnectHandler(ports: Omit<ChatPorts, 'metrics'>, middlewares: MiddlewareObj[] = []) {
  const disconnectRoute = async (event: WebSocketEvent): Promise<WebSocketResult> => {
    await disconnect(ports, event.requestContext.connectionId)
    return OK
  }
  return middy<WebSocketEvent, WebSocketResult, Error, Context>(disconnectRoute).use(middlewares)
}

const base = createBase(config())
export const handler = createDisconnectHandler(chatPorts(base, lambdaDatabase(base)), base.middlewares)
