import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { SignatureV4 } from '@smithy/signature-v4'
import { escapeUri } from './sigv4.ts'

/**
 * One signed AWS request over node:http(s), with what the SDK's clients gave the S3 and SNS
 * adapters: a kept-alive agent (50 sockets, as the SDK's), the standard retry strategy (throttling
 * 429, 500/502/503/504 and network errors, a kept-alive socket the server closed while the
 * container was frozen included, retried with exponential backoff and full jitter up to
 * `maxAttempts` in all, 100 ms base) and the SDK's two timeouts (`connectionTimeoutMs` to get a
 * socket, `requestTimeoutMs` of socket inactivity), a timeout counting as a network error.
 * Every attempt is signed anew. The reply of the last attempt is returned whatever its status:
 * each service's adapter reads its own error format.
 */

export interface AwsHttpOptions {
  signer: SignatureV4
  maxAttempts: number
  connectionTimeoutMs?: number | undefined
  requestTimeoutMs?: number | undefined
  /** Backoff base in ms (the SDK's is 100); tests pass 0. */
  retryBaseMs?: number | undefined
}

export interface AwsCall {
  method: string
  /** The endpoint's origin: `https://host[:port]`. */
  origin: URL
  /** The path as it goes on the wire (already percent-encoded). */
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: string
}

export interface AwsReply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface AwsHttp {
  send(call: AwsCall): Promise<AwsReply>
  /** Closes the kept-alive sockets (tests). */
  destroy(): void
}

/** A transport failure after the last attempt, or an error the service answered, shaped like the SDK's. */
export class AwsError extends Error {
  readonly $metadata: { httpStatusCode?: number; attempts?: number }
  constructor(name: string, message: string, httpStatusCode: number | undefined, options: { attempts?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = name
    this.$metadata = { ...(httpStatusCode === undefined ? {} : { httpStatusCode }), ...(options.attempts === undefined ? {} : { attempts: options.attempts }) }
  }
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504])
const MAX_BACKOFF_MS = 20_000
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 50 }

export function createAwsHttp(options: AwsHttpOptions): AwsHttp {
  const agents = { http: new HttpAgent(AGENT_OPTIONS), https: new HttpsAgent(AGENT_OPTIONS) }
  const retryBaseMs = options.retryBaseMs ?? 100

  const attempt = async (call: AwsCall): Promise<AwsReply> => {
    const secure = call.origin.protocol === 'https:'
    const query = call.query ?? {}
    const signed = await options.signer.sign(
      {
        method: call.method,
        protocol: call.origin.protocol,
        hostname: call.origin.hostname,
        ...(call.origin.port ? { port: Number(call.origin.port) } : {}),
        path: call.path,
        query,
        headers: { ...call.headers, host: call.origin.host },
        ...(call.body === undefined ? {} : { body: call.body }),
      },
      { signingDate: new Date() },
    )
    const headers = signed.headers
    if (call.body !== undefined) headers['content-length'] = String(Buffer.byteLength(call.body))
    return exchange({
      send: secure ? httpsRequest : httpRequest,
      agent: secure ? agents.https : agents.http,
      origin: call.origin,
      method: call.method,
      path: call.path + queryString(query),
      headers,
      body: call.body,
      connectionTimeoutMs: options.connectionTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
    })
  }

  return {
    async send(call) {
      for (let attempts = 1; ; attempts++) {
        let reply: AwsReply
        try {
          reply = await attempt(call)
        } catch (error) {
          if (attempts >= options.maxAttempts) {
            const e = error as Error | null
            throw new AwsError(e?.name === 'TimeoutError' ? 'TimeoutError' : 'NetworkError', e?.message ?? String(error), undefined, { attempts, cause: error })
          }
          await backoff(attempts)
          continue
        }
        if (!RETRYABLE_STATUS.has(reply.status) || attempts >= options.maxAttempts) return reply
        await backoff(attempts)
      }
    },
    destroy() {
      agents.http.destroy()
      agents.https.destroy()
    },
  }

  // Full jitter: a random wait up to base × 2^(attempt-1), as the SDK's standard strategy.
  function backoff(attempts: number): Promise<void> {
    const wait = Math.random() * Math.min(MAX_BACKOFF_MS, retryBaseMs * 2 ** (attempts - 1))
    return new Promise((resolve) => setTimeout(resolve, wait))
  }
}

/** `?a=1&b=2`: keys sorted, RFC 3986 encoded, as the SDK writes a URL (and the signer canonicalises it). */
export function queryString(query: Record<string, string>): string {
  const keys = Object.keys(query).sort()
  if (keys.length === 0) return ''
  return `?${keys.map((key) => `${escapeUri(key)}=${escapeUri(query[key] as string)}`).join('&')}`
}

interface Exchange {
  send: typeof httpsRequest
  agent: HttpAgent
  origin: URL
  method: string
  path: string
  headers: Record<string, string>
  body: string | undefined
  connectionTimeoutMs: number | undefined
  requestTimeoutMs: number | undefined
}

function exchange(call: Exchange): Promise<AwsReply> {
  return new Promise((resolve, reject) => {
    const request = call.send(
      { host: call.origin.hostname, port: call.origin.port || undefined, method: call.method, path: call.path, headers: call.headers, agent: call.agent },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }))
        response.on('error', reject)
      },
    )
    const timeout = (what: string, ms: number) => request.destroy(Object.assign(new Error(`${what} timed out after ${ms} ms`), { name: 'TimeoutError' }))
    if (call.connectionTimeoutMs !== undefined) {
      const ms = call.connectionTimeoutMs
      const timer = setTimeout(() => timeout('connection', ms), ms)
      request.on('socket', (socket) => {
        // A kept-alive socket is connected already; a new one is once it says so.
        if (!socket.connecting) clearTimeout(timer)
        else socket.once(call.send === httpsRequest ? 'secureConnect' : 'connect', () => clearTimeout(timer))
      })
      request.on('close', () => clearTimeout(timer))
    }
    if (call.requestTimeoutMs !== undefined) {
      const ms = call.requestTimeoutMs
      request.setTimeout(ms, () => timeout('request', ms))
    }
    request.on('error', reject)
    request.end(call.body)
  })
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

/** The text of an XML element as S3 and SNS write it (the five entities and character references). */
export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (entity, name: string) =>
    name.startsWith('#x') ? String.fromCodePoint(parseInt(name.slice(2), 16)) : name.startsWith('#') ? String.fromCodePoint(Number(name.slice(1))) : (XML_ENTITIES[name] ?? entity),
  )
}
