import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import { createWebSocketDelivery } from '../adapters/websocket-delivery.ts'
import type { Delivery } from '../core/ports.ts'
import type { ServerFrame } from '../core/protocol.ts'
import type { Base } from './base.ts'

/** Fan-out through the API Gateway Management API of the configured WebSocket stage. */
export function websocketDelivery(base: Base): Delivery<ServerFrame> {
  const client = new ApiGatewayManagementApiClient({ ...base.aws, endpoint: base.config.connectionsEndpoint, maxAttempts: 3 })
  return createWebSocketDelivery<ServerFrame>(client, base.log)
}
