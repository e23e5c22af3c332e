import type { ServerFrame } from '@trainer-chat/protocol'
import { createManagementApi, createWebSocketDelivery } from '../adapters/websocket-delivery.ts'
import type { Delivery } from '../core/ports.ts'
import type { Base } from './base.ts'

/**
 * The Management API client's HTTP agent (issue 12 item 4; bench figure 6 measures it against
 * the AWS SDK's defaults). Every PostToConnection of a fan-out starts at once, and HTTP/1.1 carries
 * one request per socket: with the SDK's 50 sockets the 51st post waits for a free one (and the SDK
 * warns "socket usage at capacity"). So the pool is sized past the largest fan-out, and keep-alive
 * keeps the TLS sessions open across the invocations of a warm container, so a fan-out after the
 * first pays no handshakes (without it every post costs a TLS handshake: ~4× the CPU, measured).
 */
export function managementApiAgent(): { keepAlive: boolean; maxSockets: number } {
  return { keepAlive: true, maxSockets: 128 }
}

/** Fan-out through the API Gateway Management API of the configured WebSocket stage. */
export function websocketDelivery(base: Base): Delivery<ServerFrame> {
  const client = createManagementApi({
    endpoint: base.config.connectionsEndpoint,
    region: base.aws.region,
    // Locally the stack's; in Lambda those of the function's role, from its environment.
    credentials: base.aws.credentials,
    maxAttempts: 3,
    agent: managementApiAgent(),
  })
  return createWebSocketDelivery<ServerFrame>(client, base.log)
}
