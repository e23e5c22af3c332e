import type { Message, ServerFrame, ServerFrameOf } from '@trainer-chat/protocol'
import { backoffDelay, type BackoffOptions } from './backoff.ts'
import { Connection, ConnectionLost, type Timers, type WebSocketConstructor } from './connection.ts'
import { Conversation, type ConversationHost, type ConversationOptions, type FileOptions, type Uploadable } from './conversation.ts'
import { Emitter } from './emitter.ts'
import { ChatClientError, TRANSIENT_CODES } from './errors.ts'
import { memoryStorage, newClientMessageId, type OutboxEntry, type OutboxStorage } from './outbox.ts'

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed'

export interface ChatClientOptions {
  /** The WebSocket API's stage URL, e.g. `wss://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  url: string
  /** The HTTP API's base URL, for attachments and older history. */
  httpUrl?: string
  /** A valid JWT; called for every connection and every REST call (return a cached one while it is fresh). */
  token: () => string | Promise<string>
  /** Default: the global WebSocket. */
  WebSocket?: WebSocketConstructor
  /** Where unsent messages wait; default in memory. */
  storage?: OutboxStorage
  /** Default: the global fetch. */
  fetch?: FetchLike
  /** Default: the global timers and Date.now (tests inject their own clock). */
  timers?: Timers
  /** Default Math.random (the jitter). */
  random?: () => number
  /** A `ping` this often keeps the connection inside API Gateway's 10-minute idle timeout. Default 5 minutes. */
  pingIntervalMs?: number
  /** A ping unanswered this long means the connection is dead. Default 30 s. */
  pongTimeoutMs?: number
  /** Open a fresh connection this long after the current one opened, before API Gateway's 2-hour limit. Default 110 minutes. */
  maxConnectionMs?: number
  /** A request without a reply this long is retried (sends with the same clientMessageId). Default 20 s. */
  requestTimeoutMs?: number
  /** How long a hole in seq may stay open before the client asks for the missing messages. Default 1.5 s. */
  holeGraceMs?: number
  /** Reconnect and retry delays: exponential with full jitter. Default 500 ms doubling to 30 s. */
  backoff?: BackoffOptions
  /** Messages per catch-up page (1..100). Default 100. */
  pageSize?: number
}

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: unknown },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>

export interface ClientEvents extends Record<string, unknown> {
  state: ConnectionState
  /** Any acknowledged send, including ones restored from storage after a restart. */
  sent: Message
  /** A new message in a conversation this client has not opened. */
  notification: ServerFrameOf<'newMessageNotification'>
  /** The other participant of one of the user's conversations came online or went offline (any conversation, opened or not). */
  presence: ServerFrameOf<'presence'>
  /** An admin reopened a conversation or assigned a new trainer: the conversation can be used now (refresh the list). */
  conversationOpened: ServerFrameOf<'conversationOpened'>['conversation']
  /** Something is being retried (diagnostics). */
  retry: { reason: string; clientMessageId?: string; delayMs: number }
  /** The client gave up (a refused token twice) or an unexpected server error arrived. */
  error: ChatClientError
}

interface OutboxItem {
  entry: OutboxEntry
  settle: Array<{ resolve(message: Message): void; reject(error: unknown): void }>
  state: 'queued' | 'inflight' | 'waiting'
  attempt: number
  on: Connection | undefined
  timer: unknown
}

const defaultTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as never),
  now: () => Date.now(),
}

/**
 * The trainer-chat client: one live connection at a time (two, briefly, while it replaces one
 * before API Gateway's 2-hour limit), conversations joined and caught up on every connection,
 * and an outbox that sends every message once, whatever happens to the network.
 */
export class ChatClient extends Emitter<ClientEvents> {
  private readonly options: Required<Omit<ChatClientOptions, 'httpUrl' | 'fetch'>> & Pick<ChatClientOptions, 'httpUrl' | 'fetch'>
  private readonly conversations = new Map<string, Conversation>()
  private readonly outbox = new Map<string, OutboxItem>()
  private primary: Connection | undefined
  private currentState: ConnectionState | undefined
  private running = false
  private stopped = false
  private everOpen = false
  private requestCounter = 0
  private loaded: Promise<void> | undefined
  private wakeLoop: (() => void) | undefined
  private heartbeat: unknown
  private rotation: unknown
  private openWaiters: Array<() => void> = []
  private readonly host: ConversationHost

  constructor(options: ChatClientOptions) {
    super()
    const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!WebSocket) throw new TypeError('No global WebSocket: pass options.WebSocket')
    this.options = {
      storage: memoryStorage(),
      timers: defaultTimers,
      random: Math.random,
      pingIntervalMs: 5 * 60_000,
      pongTimeoutMs: 30_000,
      maxConnectionMs: 110 * 60_000,
      requestTimeoutMs: 20_000,
      holeGraceMs: 1500,
      backoff: { baseMs: 500, maxMs: 30_000 },
      pageSize: 100,
      ...options,
      WebSocket,
    }
    this.host = {
      call: (frame) => this.call(frame) as never,
      fire: (frame) => this.primary?.send(frame) ?? false,
      send: (conversationId, input) => this.send(conversationId, input),
      sendFile: (conversationId, data, fileOptions) => this.sendFile(conversationId, data, fileOptions),
      history: (conversationId, historyOptions) => this.history(conversationId, historyOptions),
      timers: this.options.timers,
      holeGraceMs: this.options.holeGraceMs,
      pageSize: this.options.pageSize,
    }
  }

  get state(): ConnectionState | undefined {
    return this.currentState
  }

  /**
   * Starts connecting (and keeps reconnecting until `close()`); resolves when the first connection
   * is open, rejects if the client gives up first (its token refused twice).
   */
  connect(): Promise<void> {
    if (this.stopped) return Promise.reject(new ChatClientError('client_closed', 'This client was closed'))
    void this.restoreOutbox()
    if (!this.running) {
      this.running = true
      void this.runLoop()
    }
    return new Promise((resolve, reject) => {
      if (this.primary?.isOpen) return resolve()
      const offState = this.on('state', (state) => {
        if (state === 'open') resolve()
        else if (state === 'closed') reject(new ChatClientError('client_closed', 'The client stopped before it connected'))
        else return
        offState()
      })
    })
  }

  /** A conversation, joined now (when connected) and after every reconnect. */
  conversation(conversationId: string, options: ConversationOptions = {}): Conversation {
    let conversation = this.conversations.get(conversationId)
    if (!conversation) {
      conversation = new Conversation(conversationId, this.host, options)
      this.conversations.set(conversationId, conversation)
      if (this.primary?.isOpen) void conversation.sync()
    }
    return conversation
  }

  /** Stops for good: closes the connection; unsent messages stay in storage for the next client. */
  async close(): Promise<void> {
    this.stopped = true
    this.options.timers.clearTimeout(this.heartbeat)
    this.options.timers.clearTimeout(this.rotation)
    for (const conversation of this.conversations.values()) conversation.stop()
    for (const item of this.outbox.values()) {
      this.options.timers.clearTimeout(item.timer)
      for (const { reject } of item.settle) reject(new ChatClientError('client_closed', 'The client was closed; the message stays in the outbox'))
    }
    this.outbox.clear()
    for (const wake of this.openWaiters.splice(0)) wake()
    const connection = this.primary
    this.primary = undefined
    connection?.terminate()
    this.wakeLoop?.()
    this.setState('closed')
  }

  // ---- sending ----

  /** Writes the message to the outbox, then sends it (once connected); resolves with the stored message. */
  async send(conversationId: string, input: { body?: string; attachmentId?: string; clientMessageId?: string; replyToId?: string }): Promise<Message> {
    if (this.stopped) throw new ChatClientError('client_closed', 'This client was closed')
    await this.restoreOutbox()
    const entry: OutboxEntry = {
      clientMessageId: input.clientMessageId ?? newClientMessageId(this.options.random),
      conversationId,
      ...(input.body === undefined ? {} : { body: input.body }),
      ...(input.attachmentId === undefined ? {} : { attachmentId: input.attachmentId }),
      ...(input.replyToId === undefined ? {} : { replyToId: input.replyToId }),
      createdAt: this.options.timers.now(),
    }
    await this.options.storage.save(entry)
    return new Promise((resolve, reject) => {
      this.enqueue(entry).settle.push({ resolve, reject })
      this.pump(conversationId)
    })
  }

  /** Asks for an upload grant, PUTs the bytes to it, then sends a message carrying the attachment. */
  async sendFile(conversationId: string, data: Uploadable, options: FileOptions): Promise<Message> {
    const size = 'byteLength' in data ? data.byteLength : data.size
    const grant = (await this.rest('POST', `/conversations/${encodeURIComponent(conversationId)}/attachments`, {
      fileName: options.fileName,
      contentType: options.contentType,
      size,
    })) as { attachmentId: string; uploadUrl: string; method: string; headers: Record<string, string> }
    const fetch = this.fetcher()
    const upload = await fetch(grant.uploadUrl, { method: grant.method, headers: grant.headers, body: data })
    if (!upload.ok) throw new ChatClientError('upload_failed', `The upload was refused with HTTP ${upload.status}`, { status: upload.status })
    return this.send(conversationId, { attachmentId: grant.attachmentId, ...(options.body === undefined ? {} : { body: options.body }) })
  }

  /** Older messages over REST (`GET /conversations/{id}/messages?before=`). */
  async history(conversationId: string, options: { before?: number; limit?: number } = {}): Promise<{ messages: Message[]; hasMore: boolean }> {
    const before = options.before ?? this.conversations.get(conversationId)?.firstSeq
    const query = [before === undefined ? '' : `before=${before}`, options.limit === undefined ? '' : `limit=${options.limit}`].filter(Boolean).join('&')
    return (await this.rest('GET', `/conversations/${encodeURIComponent(conversationId)}/messages${query ? `?${query}` : ''}`)) as {
      messages: Message[]
      hasMore: boolean
    }
  }

  private enqueue(entry: OutboxEntry): OutboxItem {
    let item = this.outbox.get(entry.clientMessageId)
    if (!item) {
      item = { entry, settle: [], state: 'queued', attempt: 0, on: undefined, timer: undefined }
      this.outbox.set(entry.clientMessageId, item)
    }
    return item
  }

  /** Restores what an earlier client (before an app restart) left unsent; runs once. */
  private restoreOutbox(): Promise<void> {
    this.loaded ??= this.options.storage.load().then((entries) => {
      for (const entry of entries.sort((a, b) => a.createdAt - b.createdAt)) this.enqueue(entry)
      for (const conversationId of new Set(entries.map((entry) => entry.conversationId))) this.pump(conversationId)
    })
    return this.loaded
  }

  /**
   * One send in flight per conversation, oldest first, so a sender's messages are stored in the
   * order they were written; a message waiting out a rate limit holds the ones behind it.
   */
  private pump(conversationId: string): void {
    const connection = this.primary
    if (this.stopped || !connection?.isOpen || connection.draining || connection.unauthorized) return
    const queue = [...this.outbox.values()].filter((item) => item.entry.conversationId === conversationId)
    if (queue.some((item) => item.state !== 'queued')) return
    const item = queue.sort((a, b) => a.entry.createdAt - b.entry.createdAt)[0]
    if (!item) return
    const { entry } = item
    item.state = 'inflight'
    item.on = connection
    connection
      .request(
        {
          action: 'sendMessage',
          requestId: entry.clientMessageId,
          conversationId: entry.conversationId,
          clientMessageId: entry.clientMessageId,
          ...(entry.body === undefined ? {} : { body: entry.body }),
          ...(entry.attachmentId === undefined ? {} : { attachmentId: entry.attachmentId }),
          ...(entry.replyToId === undefined ? {} : { replyToId: entry.replyToId }),
        },
        this.options.requestTimeoutMs,
      )
      .catch((error: unknown) => this.sendFailed(item, connection, error))
  }

  /** The acknowledgement (the `newMessage` carrying the send's requestId), whichever attempt it answers. */
  private acknowledged(message: Message): void {
    const item = this.outbox.get(message.clientMessageId)
    if (!item) return
    this.outbox.delete(message.clientMessageId)
    this.options.timers.clearTimeout(item.timer)
    void this.options.storage.remove(message.clientMessageId).catch(() => {})
    for (const { resolve } of item.settle) resolve(message)
    this.emit('sent', message)
    this.pump(message.conversationId)
  }

  private sendFailed(item: OutboxItem, connection: Connection, error: unknown): void {
    if (this.outbox.get(item.entry.clientMessageId) !== item || item.state !== 'inflight' || item.on !== connection) return
    const { clientMessageId, conversationId } = item.entry
    if (error instanceof ChatClientError && !TRANSIENT_CODES.has(error.code)) {
      this.outbox.delete(clientMessageId)
      void this.options.storage.remove(clientMessageId).catch(() => {})
      for (const { reject } of item.settle) reject(error)
      this.pump(conversationId)
      return
    }
    item.on = undefined
    if ((error instanceof ConnectionLost && !connection.isOpen) || (error instanceof ChatClientError && error.code === 'unauthorized')) {
      // The connection is gone (or about to be): the next one sends it again, same clientMessageId.
      item.state = 'queued'
      this.pump(conversationId)
      return
    }
    const retryAfterMs = error instanceof ChatClientError && error.code === 'rate_limited' ? Number(error.details?.retryAfterMs) : NaN
    const delayMs = Number.isFinite(retryAfterMs)
      ? retryAfterMs + Math.floor(this.options.random() * 50)
      : backoffDelay(item.attempt++, this.options.backoff, this.options.random)
    item.state = 'waiting'
    this.emit('retry', { reason: error instanceof ChatClientError ? error.code : 'timeout', clientMessageId, delayMs })
    item.timer = this.options.timers.setTimeout(() => {
      if (this.outbox.get(clientMessageId) !== item || item.state !== 'waiting') return
      item.state = 'queued'
      this.pump(conversationId)
    }, delayMs)
  }

  // ---- requests that survive reconnects ----

  /**
   * Sends a request on the live connection and resolves with its reply; when the connection is
   * lost or the reply late, asks again on the next one; retries transient errors with backoff.
   * Final refusals reject.
   */
  private async call(frame: Record<string, unknown>): Promise<ServerFrame> {
    for (let attempt = 0; ; attempt++) {
      const connection = await this.openConnection()
      const requestId = `#${(++this.requestCounter).toString(36)}`
      try {
        return await connection.request({ ...frame, requestId }, this.options.requestTimeoutMs)
      } catch (error) {
        if (error instanceof ChatClientError && !TRANSIENT_CODES.has(error.code)) throw error
        if (error instanceof ConnectionLost && !connection.isOpen) continue
        if (error instanceof ChatClientError && error.code === 'unauthorized') continue
        const delayMs = error instanceof ChatClientError && error.code === 'rate_limited' && Number.isFinite(Number(error.details?.retryAfterMs))
          ? Number(error.details?.retryAfterMs)
          : backoffDelay(attempt, this.options.backoff, this.options.random)
        this.emit('retry', { reason: error instanceof ChatClientError ? error.code : 'timeout', delayMs })
        await new Promise<void>((resolve) => this.options.timers.setTimeout(resolve, delayMs))
      }
    }
  }

  private openConnection(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.stopped) return reject(new ChatClientError('client_closed', 'This client was closed'))
        const connection = this.primary
        if (connection?.isOpen && !connection.draining && !connection.unauthorized) return resolve(connection)
        this.openWaiters.push(check)
      }
      check()
    })
  }

  private async rest(method: string, path: string, body?: unknown): Promise<unknown> {
    if (!this.options.httpUrl) throw new TypeError('options.httpUrl is needed for attachments and history')
    const token = await this.options.token()
    const fetch = this.fetcher()
    const response = await fetch(`${this.options.httpUrl.replace(/\/$/, '')}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const json = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } }
    if (!response.ok) {
      const code = (json.error?.code ?? (response.status === 401 ? 'unauthorized' : 'internal')) as ChatClientError['code']
      throw new ChatClientError(code, json.error?.message ?? `HTTP ${response.status}`, json.error?.details)
    }
    return json
  }

  private fetcher(): FetchLike {
    const fetch = this.options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch
    if (!fetch) throw new TypeError('No global fetch: pass options.fetch')
    return fetch
  }

  // ---- connections ----

  private setState(state: ConnectionState): void {
    if (this.currentState === state) return
    this.currentState = state
    this.emit('state', state)
  }

  /**
   * Connect, live, reconnect: until close(). Backoff grows with consecutive failures and resets
   * once a connection opens. A token refused twice in a row (a fresh one asked for in between)
   * ends the loop.
   */
  private async runLoop(): Promise<void> {
    let failures = 0
    let refusedTokens = 0
    while (!this.stopped) {
      this.setState(this.everOpen ? 'reconnecting' : 'connecting')
      let connection: Connection
      try {
        connection = await this.dial()
      } catch (error) {
        if (this.stopped) break
        if (error instanceof ChatClientError && error.code === 'unauthorized') {
          if (++refusedTokens >= 2) return this.giveUp(error)
          continue
        }
        this.setState('offline')
        const delayMs = backoffDelay(failures++, this.options.backoff, this.options.random)
        this.emit('retry', { reason: 'connect', delayMs })
        await this.sleep(delayMs)
        continue
      }
      failures = 0
      this.adopt(connection)
      // Live until this connection (or the one that replaced it) ends.
      let current = connection
      for (;;) {
        await current.closed
        if (this.primary && this.primary !== current && this.primary.isOpen) current = this.primary
        else break
      }
      if (this.stopped) break
      if (current.unauthorized && !current.succeeded) {
        if (++refusedTokens >= 2) return this.giveUp(new ChatClientError('unauthorized', 'The server refused a fresh token too'))
      } else if (current.unauthorized) {
        refusedTokens = 1
      } else {
        refusedTokens = 0
        // A connection that just dropped: reconnect at once the first time (jitter only), then back off.
        const delayMs = backoffDelay(failures++, this.options.backoff, this.options.random)
        this.setState('offline')
        await this.sleep(delayMs)
      }
    }
  }

  private giveUp(error: ChatClientError): void {
    this.emit('error', error)
    void this.close()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.options.timers.setTimeout(() => {
        this.wakeLoop = undefined
        resolve()
      }, ms)
      this.wakeLoop = () => {
        this.options.timers.clearTimeout(timer)
        this.wakeLoop = undefined
        resolve()
      }
    })
  }

  private async dial(): Promise<Connection> {
    const token = await this.options.token()
    const separator = this.options.url.includes('?') ? '&' : '?'
    const url = `${this.options.url}${separator}token=${encodeURIComponent(token)}`
    return Connection.open(this.options.WebSocket, url, this.options.timers, this.options.requestTimeoutMs, (connection, frame) =>
      this.dispatch(connection, frame),
    )
  }

  /** Makes a connection the live one: catch up every conversation on it, send what waits, keep it alive. */
  private adopt(connection: Connection): Promise<void>[] {
    if (this.stopped) {
      connection.terminate()
      return []
    }
    const previous = this.primary
    this.primary = connection
    this.everOpen = true
    if (previous) previous.draining = true
    this.setState('open')
    for (const wake of this.openWaiters.splice(0)) wake()
    const synced = [...this.conversations.values()].map((conversation) => conversation.sync())
    for (const item of this.outbox.values()) if (item.state === 'inflight' && item.on !== connection && !item.on?.isOpen) item.state = 'queued'
    for (const conversationId of new Set([...this.outbox.values()].map((item) => item.entry.conversationId))) this.pump(conversationId)
    this.scheduleHeartbeat(connection)
    this.scheduleRotation(connection, this.options.maxConnectionMs)
    return synced
  }

  private scheduleHeartbeat(connection: Connection): void {
    this.options.timers.clearTimeout(this.heartbeat)
    // The oldest ping no pong has answered since: too old, and the connection is dead without knowing it.
    let unansweredSince: number | undefined
    const beat = () => {
      if (this.primary !== connection || !connection.isOpen) return
      const now = this.options.timers.now()
      if (unansweredSince !== undefined && connection.lastPongAt >= unansweredSince) unansweredSince = undefined
      if (unansweredSince !== undefined && now - unansweredSince >= this.options.pongTimeoutMs) return connection.terminate(4000, 'no pong')
      connection.send({ action: 'ping' })
      unansweredSince ??= now
      this.heartbeat = this.options.timers.setTimeout(beat, this.options.pingIntervalMs)
    }
    this.heartbeat = this.options.timers.setTimeout(beat, this.options.pingIntervalMs)
  }

  /**
   * Before API Gateway's hard limit: open the next connection, catch up on it, and only then
   * close the old one once its requests are answered, so nothing falls in between.
   */
  private scheduleRotation(connection: Connection, delayMs: number): void {
    this.options.timers.clearTimeout(this.rotation)
    this.rotation = this.options.timers.setTimeout(async () => {
      if (this.primary !== connection || !connection.isOpen || this.stopped) return
      let next: Connection
      try {
        next = await this.dial()
      } catch {
        // Keep the old one; try again shortly (the server's own limit ends it otherwise, and the loop reconnects).
        return this.scheduleRotation(connection, backoffDelay(2, this.options.backoff, this.options.random))
      }
      if (this.primary !== connection || this.stopped) return next.terminate()
      await Promise.all(this.adopt(next))
      const deadline = this.options.timers.now() + this.options.requestTimeoutMs
      while (connection.isOpen && (connection.pendingCount > 0 || this.inflightOn(connection)) && this.options.timers.now() < deadline) {
        await new Promise<void>((resolve) => this.options.timers.setTimeout(resolve, 50))
      }
      connection.terminate(1000, 'replaced by a new connection')
    }, delayMs)
  }

  private inflightOn(connection: Connection): boolean {
    for (const item of this.outbox.values()) if (item.on === connection) return true
    return false
  }

  private dispatch(connection: Connection, frame: ServerFrame): void {
    switch (frame.type) {
      case 'newMessage':
        if (frame.requestId !== undefined) this.acknowledged(frame.message)
        this.conversations.get(frame.message.conversationId)?.accept(frame.message)
        return
      case 'conversationHistory':
        // Pages are read by the request that asked for them.
        return
      case 'newMessageNotification': {
        const conversation = this.conversations.get(frame.conversationId)
        if (conversation) void conversation.sync()
        else this.emit('notification', frame)
        return
      }
      case 'userTyping':
      case 'messageRead':
      case 'userJoined':
      case 'userLeft':
      case 'conversationClosed':
      case 'messageRemoved':
      case 'messageUpdated':
      case 'messageDeleted':
      case 'reactionChanged':
        this.conversations.get(frame.conversationId)?.handle(frame)
        return
      case 'presence':
        this.emit('presence', frame)
        this.conversations.get(frame.conversationId)?.handle(frame)
        return
      case 'conversationOpened':
        this.emit('conversationOpened', frame.conversation)
        this.conversations.get(frame.conversation.id)?.handle(frame)
        return
      case 'error':
        // The token expired or was revoked: this connection is useless; the loop reconnects with a fresh token.
        if (frame.code === 'unauthorized') connection.terminate(1000, 'unauthorized')
        if (frame.requestId === undefined) this.emit('error', new ChatClientError(frame.code, frame.message, frame.details))
        else if (this.outbox.has(frame.requestId)) {
          const item = this.outbox.get(frame.requestId) as OutboxItem
          if (item.on === connection) this.sendFailed(item, connection, new ChatClientError(frame.code, frame.message, frame.details))
        }
        return
      default:
        return
    }
  }
}
