import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import { createWebSocketDelivery } from '../adapters/websocket-delivery.ts'
import type { Delivery } from '../core/ports.ts'
import type { ServerFrame } from '../core/protocol.ts'
import type { Base } from './base.ts'

/**
 * The Management API client's HTTP agent (issue 12 item 4; bench figure 6 measures it against
 * the SDK's default). Every PostToConnection of a fan-out starts at once, and HTTP/1.1 carries one
 * request per socket: with the SDK's 50 sockets, the 51st post waits for a socket and the SDK
 * warns "socket usage at capacity". So the pool is sized for the largest fan-out, and keep-alive
 * keeps the TLS sessions open across the invocations of a warm container, so a fan-out after the
 * first pays no handshakes.
 */
export function managementApiAgent(): { keepAlive: boolean; maxSockets: number } {
  return { keepAlive: true, maxSockets: 128 }
}

/** Fan-out through the API Gateway Management API of the configured WebSocket stage. */
export function websocketDelivery(base: Base): Delivery<ServerFrame> {
  const agent = managementApiAgent()
  const client = new ApiGatewayManagementApiClient({
    ...base.aws,
    endpoint: base.config.connectionsEndpoint,
    maxAttempts: 3,
    // An options object, not an Agent instance: the SDK builds the agent, so node:https is not imported here.
    requestHandler: { httpsAgent: agent, httpAgent: agent },
  })
  return createWebSocketDelivery<ServerFrame>(client, base.log)
}
