import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FaultInjector } from './faults.ts'
import { BodyTooLargeError, headerMap, readBody, send, snsRequestId, type ParsedUrl } from './http.ts'
import { snsActions } from './sns-actions.ts'
import { authFailureToSns, SnsError, snsErrors } from './sns-errors.ts'
import type { PlatformRegistry } from './sns-platform.ts'
import { isJsonRequest, parseCall, renderError, renderResult, type RenderedReply } from './sns-protocol.ts'
import { verifySignature, type VerifierConfig } from './sigv4.ts'

/** SNS over either protocol: authenticate, run the action, reply in the protocol the client spoke. */

export interface SnsDeps {
  registry: PlatformRegistry
  verifier: VerifierConfig
  faults: FaultInjector
}

// A 256 KiB message plus its attributes and form encoding fits comfortably.
const MAX_REQUEST_BYTES = 2 * 1024 * 1024

export function createSnsHandler(deps: SnsDeps): (req: IncomingMessage, res: ServerResponse, url: ParsedUrl) => Promise<void> {
  return async (req, res, url) => {
    const requestId = snsRequestId()
    const headers = headerMap(req)
    const protocol = isJsonRequest(headers['content-type']) ? 'json' : 'query'
    let reply: RenderedReply
    try {
      reply = await handle(deps, req, url, headers, requestId)
    } catch (error) {
      if (error instanceof SnsError) {
        reply = renderError(protocol, error, requestId)
      } else {
        console.error(`[aws-edge] sns request failed: ${error instanceof Error ? error.message : String(error)}`)
        reply = renderError(protocol, snsErrors.internalError(), requestId)
      }
    }
    send(res, reply.status, reply.headers, reply.body)
  }
}

async function handle(
  deps: SnsDeps,
  req: IncomingMessage,
  url: ParsedUrl,
  headers: Record<string, string>,
  requestId: string,
): Promise<RenderedReply> {
  let body: Buffer
  try {
    body = await readBody(req, MAX_REQUEST_BYTES)
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw snsErrors.invalidParameter('Request too large')
    throw error
  }
  const injected = deps.faults.take()
  if (injected !== undefined) throw snsErrors.injected(injected)

  const auth = await verifySignature(deps.verifier, { method: req.method ?? 'POST', url, headers, body })
  if (!auth.ok) throw authFailureToSns(auth)

  const call = parseCall(body, headers['content-type'], headers['x-amz-target'])
  if (!Object.hasOwn(snsActions, call.action)) throw snsErrors.invalidAction(call.action)
  const action = snsActions[call.action]
  if (action === undefined) throw snsErrors.invalidAction(call.action)
  return renderResult(call, action(call.input, deps.registry), requestId)
}
