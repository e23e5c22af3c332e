import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { MalformedUrlError, parseUrl, send, type ParsedUrl } from './http.ts'
import { INTERNAL_PREFIXES } from './localstack-api.ts'
import { isJsonRequest } from './sns-protocol.ts'

/**
 * One port for every service, dispatched the way LocalStack's edge does: its internal
 * endpoints by path, SNS by the shape of a query/JSON-protocol call, S3 for everything else.
 */

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: ParsedUrl) => void | Promise<void>

export interface EdgeRoutes {
  internal: RouteHandler
  sns: RouteHandler
  s3: RouteHandler
}

export function createEdgeServer(routes: EdgeRoutes): Server {
  return createServer((req, res) => {
    void dispatch(routes, req, res).catch((error: unknown) => {
      console.error(`[aws-edge] ${req.method} ${req.url} failed: ${error instanceof Error ? error.message : String(error)}`)
      send(res, 500, { 'Content-Type': 'text/plain' }, 'Internal error')
    })
  })
}

async function dispatch(routes: EdgeRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let url: ParsedUrl
  try {
    url = parseUrl(req.url ?? '/')
  } catch (error) {
    if (!(error instanceof MalformedUrlError)) throw error
    req.resume()
    send(res, 400, { 'Content-Type': 'text/plain' }, error.message)
    return
  }
  if (INTERNAL_PREFIXES.some((prefix) => url.rawPath.startsWith(prefix))) return routes.internal(req, res, url)
  if (isSnsCall(req, url)) return routes.sns(req, res, url)
  return routes.s3(req, res, url)
}

/** S3 has no operation on `POST /` with a form or JSON body, so such a call is SNS's. */
function isSnsCall(req: IncomingMessage, url: ParsedUrl): boolean {
  if (req.method !== 'POST' || url.rawPath !== '/') return false
  const contentType = req.headers['content-type'] ?? ''
  if (contentType.startsWith('application/x-www-form-urlencoded')) return true
  return isJsonRequest(contentType) && String(req.headers['x-amz-target'] ?? '').startsWith('AmazonSimpleNotificationService.')
}
