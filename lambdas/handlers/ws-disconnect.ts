import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { chatPorts } from '../runtime.ts'
import type { WebSocketEvent, WebSocketResult } from './ws-route.ts'

/** Route `$disconnect`: forget the connection. API Gateway does not retry it, so fan-out also cleans up (410). */
export async function disconnectRoute(event: WebSocketEvent): Promise<WebSocketResult> {
  await chatPorts().store.disconnect(event.requestContext.connectionId)
  return { statusCode: 200 }
}

export const handler = middy<WebSocketEvent, WebSocketResult, Error, Context>(disconnectRoute)
