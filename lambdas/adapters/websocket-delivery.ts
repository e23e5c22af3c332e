import { setMaxListeners } from 'node:events'
import type { ManagementApi } from './management-api.ts'
import type { Delivery, DeliveryReport, Outgoing, PostOptions } from '../core/ports.ts'
import { describeError } from '../core/errors.ts'
import type { Log } from '../core/ports.ts'

/**
 * Fan-out through the API Gateway Management API: every PostToConnection in parallel.
 * 410 Gone means API Gateway no longer knows the connection (its row should go);
 * throttling and 5xx are retried by the client (management-api.ts: exponential backoff with
 * full jitter) and then reported as failed, never thrown: the message is already stored.
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

function isAborted(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name
  return name === 'AbortError' || name === 'TimeoutError'
}
