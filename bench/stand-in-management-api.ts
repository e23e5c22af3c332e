import { createServer, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

/**
 * Issue 12 item 2's "local server that answers PostToConnection at once": an HTTP server on the
 * bench process's own event loop (in process, like the handler) that reads each request's body
 * and answers 200 with no body, and only records what it got, to be checked after the timed run.
 *
 * The local WebSocket gateway is not that server: on the same thread as the handler it also
 * verifies each post's SigV4 signature (@smithy/signature-v4, several awaits) and writes the
 * frame to the client's socket. That write wakes the client worker thread, and on this loaded
 * 2-core machine the woken thread takes the main thread's CPU: ~1.7 ms of run-queue wait per
 * frame (mean, load ~18; bench/timeline-send.ts WRITES=1), work that API Gateway does on its own
 * machines, not in the Lambda. The gateway run is still measured and reported beside the target
 * figure (`handler.send.gatewayFloorRatio`), and its frames are still checked on the sockets.
 */

export interface RecordedPost {
  method: string
  /** The connection id, decoded from `/{stage}/@connections/{id}`. */
  connectionId: string
  /** Whether the request carried a SigV4 Authorization header (not verified: see above). */
  signed: boolean
  body: Buffer
}

export interface StandInManagementApi {
  /** `http://127.0.0.1:{port}/{stage}`, as CONNECTIONS_ENDPOINT. */
  endpoint: string
  /** The posts recorded since the last call (and forgets them). */
  take(): RecordedPost[]
  close(): Promise<void>
}

/** At most this many posts are kept between two `take()`s; beyond that they are counted, not kept. */
const MAX_RECORDED = 100_000

export async function startStandInManagementApi(stage = 'local'): Promise<StandInManagementApi> {
  let recorded: RecordedPost[] = []
  const record = (request: IncomingMessage, body: Buffer) => {
    if (recorded.length >= MAX_RECORDED) return
    const path = request.url ?? ''
    const at = path.indexOf('/@connections/')
    recorded.push({
      method: request.method ?? '',
      connectionId: at < 0 ? '' : decodeURIComponent(path.slice(at + '/@connections/'.length)),
      signed: (request.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 '),
      body,
    })
  }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      response.writeHead(200, { 'content-length': '0' })
      response.end()
      record(request, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks))
    })
  })
  // The client keeps its sockets alive across invocations, as a warm Lambda container does.
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}/${stage}`,
    take() {
      const posts = recorded
      recorded = []
      return posts
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
