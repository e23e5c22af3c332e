import type { ServerFrame } from '@trainer-chat/protocol'
import { ChatClientError } from './errors.ts'

/**
 * The part of the WebSocket API the client uses: the browser's, React Native's and the `ws`
 * package's all fit. Handlers take `never` so that each platform's own event type is accepted.
 */
export interface WebSocketLike {
  readonly readyState: number
  onopen: ((event: never) => void) | null
  onmessage: ((event: never) => void) | null
  onclose: ((event: never) => void) | null
  onerror: ((event: never) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  now(): number
}

interface Pending {
  resolve(frame: ServerFrame): void
  reject(error: unknown): void
  timer: unknown
}

/** Thrown to a request when its connection is gone or its reply did not come in time: retry it. */
export class ConnectionLost extends Error {
  override readonly name = 'ConnectionLost'
}

const OPEN = 1
const ignore = (() => {}) as never

/**
 * One WebSocket connection: requests matched to their replies by requestId, everything else
 * handed to `onFrame`. `closed` settles once, however the connection ends.
 */
export class Connection {
  readonly openedAt: number
  /** An `unauthorized` error arrived: the token expired or was revoked; the server closes us. */
  unauthorized = false
  /** A request got a non-error reply on this connection: its token was good. */
  succeeded = false
  /** Replaced by a newer connection; takes no new requests. */
  draining = false
  /** Requests in a row that got no reply in time. */
  private silentReplies = 0
  lastPongAt: number
  readonly closed: Promise<void>
  private markClosed!: () => void
  private isClosed = false
  private readonly pending = new Map<string, Pending>()

  private constructor(
    private readonly socket: WebSocketLike,
    private readonly timers: Timers,
    private readonly onFrame: (connection: Connection, frame: ServerFrame) => void,
  ) {
    this.openedAt = timers.now()
    this.lastPongAt = this.openedAt
    this.closed = new Promise((resolve) => (this.markClosed = resolve))
    socket.onmessage = ((event: { data: unknown }) => this.receive(event.data)) as never
    socket.onclose = (() => this.terminate()) as never
    socket.onerror = (() => this.terminate()) as never
  }

  /** Opens a socket; resolves once it is open, rejects (with `unauthorized` when the handshake says 401) otherwise. */
  static open(
    WebSocket: WebSocketConstructor,
    url: string,
    timers: Timers,
    timeoutMs: number,
    onFrame: (connection: Connection, frame: ServerFrame) => void,
  ): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: WebSocketLike
      try {
        socket = new WebSocket(url)
      } catch (error) {
        reject(error)
        return
      }
      const timer = timers.setTimeout(() => fail(new ConnectionLost('connect timed out')), timeoutMs)
      const fail = (error: unknown) => {
        timers.clearTimeout(timer)
        socket.onopen = socket.onclose = null
        // Not null: `ws` emits an error while aborting a handshake, and an unheard error throws.
        socket.onerror = ignore
        try {
          socket.close()
        } catch {
          // already closed
        }
        reject(error)
      }
      socket.onopen = (() => {
        timers.clearTimeout(timer)
        resolve(new Connection(socket, timers, onFrame))
      }) as never
      // Browsers hide the handshake's status; `ws` (Node) tells it in the error's message.
      socket.onerror = ((event: { message?: unknown; error?: { message?: unknown } }) => {
        const text = String(event?.message ?? event?.error?.message ?? '')
        fail(/\b401\b/.test(text) ? new ChatClientError('unauthorized', 'The server refused the token') : new ConnectionLost(text || 'connect failed'))
      }) as never
      socket.onclose = (() => fail(new ConnectionLost('closed before open'))) as never
    })
  }

  get isOpen(): boolean {
    return !this.isClosed && this.socket.readyState === OPEN
  }

  get pendingCount(): number {
    return this.pending.size
  }

  /** Sends a frame that expects no reply; false when the socket cannot take it. */
  send(frame: Record<string, unknown>): boolean {
    if (!this.isOpen) return false
    try {
      this.socket.send(JSON.stringify(frame))
      return true
    } catch {
      this.terminate()
      return false
    }
  }

  /** Sends a frame carrying `requestId` and resolves with the one reply carrying it (an `error` reply rejects). */
  request(frame: Record<string, unknown> & { requestId: string }, timeoutMs: number): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      if (!this.send(frame)) {
        reject(new ConnectionLost('not connected'))
        return
      }
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(frame.requestId)
        reject(new ConnectionLost('no reply in time'))
        // Open but answering nothing (a half-dead socket, a gateway that lost track of us): drop it.
        if (++this.silentReplies >= 2) this.terminate(4001, 'no replies')
      }, timeoutMs)
      this.pending.set(frame.requestId, { resolve, reject, timer })
    })
  }

  /** Closes the socket and settles everything at once (a dead network may never deliver the close). */
  terminate(code = 1000, reason = 'client closed'): void {
    if (this.isClosed) return
    this.isClosed = true
    this.socket.onmessage = this.socket.onclose = null
    this.socket.onerror = ignore
    try {
      this.socket.close(code, reason)
    } catch {
      // already closed
    }
    for (const [requestId, pending] of this.pending) {
      this.timers.clearTimeout(pending.timer)
      this.pending.delete(requestId)
      pending.reject(new ConnectionLost('connection closed'))
    }
    this.markClosed()
  }

  private receive(data: unknown): void {
    let frame: ServerFrame
    try {
      frame = JSON.parse(String(data)) as ServerFrame
    } catch {
      return
    }
    if (frame.type === 'pong') this.lastPongAt = this.timers.now()
    if (frame.type === 'error' && frame.code === 'unauthorized') this.unauthorized = true
    const requestId = 'requestId' in frame ? frame.requestId : undefined
    const pending = requestId === undefined ? undefined : this.pending.get(requestId)
    if (pending && requestId !== undefined) {
      this.silentReplies = 0
      this.pending.delete(requestId)
      this.timers.clearTimeout(pending.timer)
      if (frame.type === 'error') {
        pending.reject(new ChatClientError(frame.code, frame.message, frame.details))
      } else {
        this.succeeded = true
        pending.resolve(frame)
      }
    } else if (frame.type !== 'error' && frame.type !== 'pong') {
      this.succeeded ||= requestId !== undefined
    }
    this.onFrame(this, frame)
  }
}
