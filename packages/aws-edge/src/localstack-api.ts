import type { IncomingMessage, ServerResponse } from 'node:http'
import { discardBody, firstQueryValue, send, sendJson, type ParsedUrl } from './http.ts'
import type { PlatformRegistry, PublishedNotification } from './sns-platform.ts'

/**
 * LocalStack's internal endpoints, with the same paths and shapes, so scripts and tests
 * written against LocalStack work here unchanged:
 * - GET /_localstack/health
 * - GET | DELETE /_aws/sns/platform-endpoint-messages[?endpointArn=...]
 */

export const INTERNAL_PREFIXES = ['/_localstack/', '/_aws/']

export function createLocalstackApi(registry: PlatformRegistry, region: string) {
  return (req: IncomingMessage, res: ServerResponse, url: ParsedUrl): void => {
    discardBody(req)
    if (url.rawPath === '/_localstack/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, { services: { s3: 'running', sns: 'running' } })
      return
    }
    if (url.rawPath === '/_aws/sns/platform-endpoint-messages') {
      // Local-only inspection of every push sent (device tokens, message text): never off this machine,
      // even when HOST exposes the edge on the network.
      if (!isLoopback(req.socket.remoteAddress)) {
        sendJson(res, 403, { error: 'Forbidden', message: 'the push inspection endpoint answers only on loopback' })
        return
      }
      const endpointArn = firstQueryValue(url.query, 'endpointArn')
      if (req.method === 'GET') {
        sendJson(res, 200, { platform_endpoint_messages: groupByEndpoint(registry.notifications(endpointArn)), region })
        return
      }
      if (req.method === 'DELETE') {
        registry.clearNotifications(endpointArn)
        send(res, 204, {})
        return
      }
    }
    sendJson(res, 404, { error: 'Not found', path: url.rawPath })
  }
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4.startsWith('127.') || address === '::1'
}

function groupByEndpoint(notifications: PublishedNotification[]): Record<string, PublishedNotification[]> {
  const grouped: Record<string, PublishedNotification[]> = {}
  for (const notification of notifications) (grouped[notification.TargetArn] ??= []).push(notification)
  return grouped
}
