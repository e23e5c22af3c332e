import middy, { type MiddlewareObj } from '@middy/core'
import type { Context } from 'aws-lambda'
import { config } from '../config.ts'
import type { ChatStore } from '../core/ports.ts'
import { OK, type WebSocketEvent, type WebSocketResult } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatStore, lambdaDatabase } from '../wiring/database.ts'

/** Route `$disconnect`: forget the connection. API Gateway does not retry it, so fan-out also cleans up (410). */
export function createDisconnectHandler(ports: { store: ChatStore }, middlewares: MiddlewareObj[] = []) {
  const disconnectRoute = async (event: WebSocketEvent): Promise<WebSocketResult> => {
    await ports.store.disconnect(event.requestContext.connectionId)
    return OK
  }
  return middy<WebSocketEvent, WebSocketResult, Error, Context>(disconnectRoute).use(middlewares)
}

const base = createBase(config())
export const handler = createDisconnectHandler({ store: chatStore(base, lambdaDatabase(base)) }, base.middlewares)
