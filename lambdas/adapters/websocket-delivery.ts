import { setMaxListeners } from 'node:events'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { describeError } from '../core/errors.ts'
import type { Delivery, DeliveryReport, Log, Outgoing, PostOptions } from '../core/ports.ts'
import { createSigner, environmentCredentials, escapeUri, type AwsCredentials } from './sigv4.ts'

/**
 * The fan-out, in one adapter: what a post, a disconnect and a probe mean for the use cases
 * (createWebSocketDelivery), over the three calls of the API Gateway Management API they make
 * (createManagementApi). The delivery takes any ManagementApi, so the benchmarks can put the AWS
 * SDK's client or a recording one under it.
 */

/**
 * Fan-out through the API Gateway Management API: every PostToConnection in parallel.
 * 410 Gone means API Gateway no longer knows the connection (its row should go);
 * throttling and 5xx are retried by the client (below: exponential backoff with full jitter)
 * and then reported as failed, never thrown: the message is already stored.
 * With a deadline, posts still running when it passes are aborted and reported `late`, so a slow
 * fan-out can never hold the handler past its own timeout.
 */
export function createWebSocketDelivery<F>(client: ManagementApi, log: Log): Delivery<F> {
  const encoder = new TextEncoder()
  return {
    async post(outgoing: readonly Outgoing<F>[], options: PostOptions = {}): Promise<DeliveryReport> {
      const deadline = options.deadline === undefined ? undefined : deadlineSignal(options.deadline)
      const signal = deadline?.signal
      // Every post listens on the one deadline signal at once: not a leak, so no warning past 10.
      if (signal && outgoing.length > 5) setMaxListeners(outgoing.length + 10, signal)
      // The same frame object often goes to many connections: serialize it once.
      const encoded = new Map<F, Uint8Array>()
      const bytes = (frame: F) => {
        let data = encoded.get(frame)
        if (!data) encoded.set(frame, (data = encoder.encode(JSON.stringify(frame))))
        return data
      }
      const results = await Promise.allSettled(
        outgoing.map(({ connectionId, frame }) =>
          client.postToConnection(connectionId, bytes(frame), signal ? { abortSignal: signal } : {}),
        ),
      ).finally(() => deadline?.clear())
      const report: DeliveryReport = { gone: [], failed: [], late: [] }
      results.forEach((result, index) => {
        const connectionId = (outgoing[index] as Outgoing<F>).connectionId
        if (result.status === 'fulfilled') return
        if (isGone(result.reason)) report.gone.push(connectionId)
        else if (signal?.aborted && isAborted(result.reason)) report.late?.push(connectionId)
        else {
          report.failed.push(connectionId)
          log.warn('PostToConnection failed', { connectionId, ...describeError(result.reason) })
        }
      })
      return report
    },

    async disconnect(connectionId: string): Promise<void> {
      try {
        await client.deleteConnection(connectionId)
      } catch (error) {
        if (!isGone(error)) log.warn('DeleteConnection failed', { connectionId, ...describeError(error) })
      }
    },

    /** GetConnection for each, in parallel: only a 410 counts as gone; any other failure keeps the row. */
    async probe(connectionIds: readonly string[]): Promise<string[]> {
      const results = await Promise.allSettled(
        connectionIds.map((connectionId) => client.getConnection(connectionId)),
      )
      const gone: string[] = []
      results.forEach((result, index) => {
        if (result.status === 'fulfilled') return
        const connectionId = connectionIds[index] as string
        if (isGone(result.reason)) gone.push(connectionId)
        else log.warn('GetConnection failed', { connectionId, ...describeError(result.reason) })
      })
      return gone
    },
  }
}

/**
 * An abort signal that fires at `deadline` (epoch ms) with a TimeoutError, as AbortSignal.timeout
 * does, and a `clear` that drops its timer once the posts are over. AbortSignal.timeout cost ~20 µs
 * per fan-out here and left its timer pending until the deadline, ~28 s after every invocation
 * (bench/micro-send.ts); a cleared setTimeout costs a fraction of that and leaves nothing behind.
 */
function deadlineSignal(deadline: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController()
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    Math.max(0, deadline - Date.now()),
  )
  // Like AbortSignal.timeout's, the timer never holds the process open.
  timer.unref()
  return { signal: controller.signal, clear: () => clearTimeout(timer) }
}

function isGone(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | null
  return e?.name === 'GoneException' || e?.$metadata?.httpStatusCode === 410
}

/** An abort (the caller's signal) or a timeout (the deadline's): the call was stopped, not refused. */
function isAborted(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name
  return name === 'AbortError' || name === 'TimeoutError'
}

// ---- The Management API client ----

/**
 * The calls of the API Gateway Management API the fan-out makes (PostToConnection,
 * DeleteConnection, GetConnection), signed with SigV4 and sent with node:https, without the AWS
 * SDK (issue 12 items 4 and 5). The SDK client cost about 0.9 ms of CPU per post on this machine, most of it
 * building its middleware stack and resolving the endpoint for every command (a fan-out to 100 is
 * 100 commands), and it brought ~250 KB into every WebSocket handler's bundle: @smithy/core, and the
 * default credential chain with its SSO and STS clients, which a Lambda (credentials in its
 * environment) never uses.
 *
 * What it keeps of the SDK's behaviour: errors carry the service's error name (`GoneException`
 * for 410) and `$metadata.httpStatusCode`; throttling (429), 5xx and network errors (a keep-alive
 * socket the server closed while the container was frozen) are retried with exponential backoff
 * and full jitter, up to `maxAttempts` in all; an abort signal stops a call, its backoff included.
 */

export interface ManagementApi {
  postToConnection(connectionId: string, data: Uint8Array, options?: { abortSignal?: AbortSignal }): Promise<void>
  deleteConnection(connectionId: string): Promise<void>
  /** GetConnection: resolves while API Gateway knows the connection, rejects with GoneException (410) once it does not. */
  getConnection(connectionId: string): Promise<void>
  /** Closes the kept-alive sockets (tests, the bench). */
  destroy(): void
}

export interface ManagementApiOptions {
  /** `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` (or the local gateway's). */
  endpoint: string
  region: string
  /** Fixed credentials (local); otherwise read from the environment Lambda sets, on every call. */
  credentials?: AwsCredentials | undefined
  maxAttempts?: number
  agent?: { keepAlive: boolean; maxSockets: number; ca?: string | Buffer }
  /** Backoff base in ms (the SDK's is 100). */
  retryBaseMs?: number
}

export type { AwsCredentials }

/** An error answered by the service (or a transport failure), shaped like the SDK's. */
export class ManagementApiError extends Error {
  readonly $metadata: { httpStatusCode?: number; attempts: number }
  constructor(name: string, message: string, httpStatusCode: number | undefined, attempts: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = name
    this.$metadata = { ...(httpStatusCode === undefined ? {} : { httpStatusCode }), attempts }
  }
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504])
const MAX_BACKOFF_MS = 20_000

export function createManagementApi(options: ManagementApiOptions): ManagementApi {
  const base = new URL(options.endpoint)
  const secure = base.protocol === 'https:'
  const basePath = base.pathname.replace(/\/+$/, '')
  const agentOptions = options.agent ?? { keepAlive: true, maxSockets: 50 }
  const agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions)
  const send = secure ? httpsRequest : httpRequest
  const maxAttempts = options.maxAttempts ?? 3
  const retryBaseMs = options.retryBaseMs ?? 100
  const signer = createSigner('execute-api', options.region)

  const call = async (method: 'POST' | 'DELETE' | 'GET', connectionId: string, body: Uint8Array, signal: AbortSignal | undefined): Promise<void> => {
    const path = `${basePath}/@connections/${escapeUri(connectionId)}`
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted()
      const credentials = options.credentials ?? environmentCredentials()
      const headers: Record<string, string> = { host: base.host }
      if (method === 'POST') headers['content-type'] = 'application/json'
      signer.sign(method, path, headers, body, credentials, new Date())
      headers['content-length'] = String(body.byteLength)
      let answer: Awaited<ReturnType<typeof exchange>>
      try {
        answer = await exchange(send, agent, base, method, path, headers, body, signal)
      } catch (error) {
        if (signal?.aborted || isAborted(error)) throw error
        if (attempt >= maxAttempts) throw new ManagementApiError('NetworkError', (error as Error)?.message ?? String(error), undefined, attempt, error)
        await backoff(attempt, signal)
        continue
      }
      const { status, errorType, text } = answer
      if (status >= 200 && status < 300) return
      const failure = new ManagementApiError(errorType ?? (status === 410 ? 'GoneException' : `Http${status}Error`), text || `status ${status}`, status, attempt)
      if (!RETRYABLE_STATUS.has(status) || attempt >= maxAttempts) throw failure
      await backoff(attempt, signal)
    }
  }
  // Full jitter: a random wait up to base × 2^(attempt-1), as the SDK's standard strategy.
  const backoff = (attempt: number, signal: AbortSignal | undefined) =>
    sleep(Math.random() * Math.min(MAX_BACKOFF_MS, retryBaseMs * 2 ** (attempt - 1)), signal)

  return {
    postToConnection: (connectionId, data, callOptions = {}) => call('POST', connectionId, data, callOptions.abortSignal),
    deleteConnection: (connectionId) => call('DELETE', connectionId, new Uint8Array(0), undefined),
    getConnection: (connectionId) => call('GET', connectionId, new Uint8Array(0), undefined),
    destroy: () => agent.destroy(),
  }
}

function exchange(
  send: typeof httpsRequest,
  agent: HttpAgent,
  base: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<{ status: number; errorType: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const request = send(
      { host: base.hostname, port: base.port || undefined, method, path, headers, agent, ...(signal ? { signal } : {}) },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0
        const chunks: Buffer[] = []
        // Success has no body worth reading; an error's is short JSON with a message.
        response.on('data', (chunk: Buffer) => {
          if (status >= 300) chunks.push(chunk)
        })
        response.on('end', () => {
          const errorType = String(response.headers['x-amzn-errortype'] ?? '').split(':')[0] || undefined
          resolve({ status, errorType, text: status >= 300 ? errorMessage(Buffer.concat(chunks).toString('utf8')) : '' })
        })
        response.on('error', reject)
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; Message?: unknown }
    return String(parsed.message ?? parsed.Message ?? text)
  } catch {
    return text
  }
}

function sleep(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, milliseconds)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
