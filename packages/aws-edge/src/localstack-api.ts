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

function groupByEndpoint(notifications: PublishedNotification[]): Record<string, PublishedNotification[]> {
  const grouped: Record<string, PublishedNotification[]> = {}
  for (const notification of notifications) (grouped[notification.TargetArn] ??= []).push(notification)
  return grouped
}
