import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import WebSocket from 'ws'
import { createPairs, type Pair } from '../helpers/fixtures.ts'
import { ConversationInbox } from '../helpers/inbox.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/**
 * Load test through the local stack: one WebSocket client per member and per trainer, one
 * conversation per pair, everybody sending at once. A checker then classifies every message at
 * every connection that should (and should not) have received it:
 *
 * - delivered: exactly one live `newMessage` at the other participant's joined connection;
 * - lost: none; duplicated: more than one; unexpected: a frame nobody should have sent there
 *   (another conversation's message, a message that was never stored, an error, a notification);
 * - every sent frame must get exactly one acknowledgement, and every acknowledged message must be
 *   stored (guarantee 1), once (guarantee 4);
 * - order (guarantee 2 as docs/reliability.md states it): each client applies messages in seq
 *   order through ConversationInbox, filling any hole with `joinConversation {afterSeq}`; the run
 *   passes only if every client ends with exactly the stored messages, in seq order. How many
 *   frames arrived out of seq order on the wire is reported, not judged.
 *
 * Loopback only, bounded in time (deadlineMs) and count. `npm run loadtest` runs the full size;
 * test/e2e/loadtest-small.test.ts runs a small one in `npm test`.
 */

export interface LoadTestOptions {
  conversations: number
  messagesPerClient: number
  /** Upper bound on each client's pause between two sends (0: back to back). */
  maxGapMs: number
  /** The whole run (connect, send, settle, check) must finish within this. */
  deadlineMs: number
  /** Handshakes in flight at once while connecting the clients. */
  connectConcurrency?: number
  log?: (line: string) => void
}

export interface Latency {
  p50: number
  p99: number
  max: number
}

export interface LoadTestReport {
  databaseKind: string
  clients: number
  conversations: number
  messagesSent: number
  acks: { received: number; missing: number; duplicated: number; refused: number; withoutStoredMessage: number; retries: number }
  stored: number
  deliveries: { expected: number; delivered: number; lost: number; duplicated: number; unexpected: number }
  order: { intact: boolean; clientsOutOfOrder: number; framesArrivedOutOfOrder: number; filledByCatchUp: number }
  ackLatencyMs: Latency
  deliveryLatencyMs: Latency
  sendPhaseMs: number
  messagesPerSecond: number
  durationMs: number
  passed: boolean
  problems: string[]
}

interface Received {
  frame: Frame
  at: number
}

// Frames are whatever the server sent: the checker inspects them field by field.
type Frame = Record<string, any>

class LoadClient {
  readonly received: Received[] = []
  private waiters = new Map<string, (frame: Frame) => void>()

  private constructor(
    readonly socket: WebSocket,
    readonly pair: Pair,
    readonly role: 'member' | 'trainer',
  ) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      this.received.push({ frame, at: performance.now() })
      const requestId = typeof frame.requestId === 'string' ? frame.requestId : undefined
      if (requestId && this.waiters.has(requestId)) {
        this.waiters.get(requestId)?.(frame)
        this.waiters.delete(requestId)
      }
    })
  }

  get userId(): string {
    return this.role === 'member' ? this.pair.member.id : this.pair.trainer.id
  }

  static open(url: string, token: string, pair: Pair, role: 'member' | 'trainer'): Promise<LoadClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${url}?token=${encodeURIComponent(token)}`)
      socket.once('open', () => resolve(new LoadClient(socket, pair, role)))
      socket.once('unexpected-response', (_request, response) => reject(new Error(`handshake refused: ${response.statusCode}`)))
      socket.once('error', reject)
    })
  }

  send(frame: Frame): void {
    this.socket.send(JSON.stringify(frame))
  }

  request(frame: Frame, timeoutMs: number): Promise<Frame> {
    const requestId = randomUUID()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId)
        reject(new Error(`no reply to ${String(frame.action)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.set(requestId, (reply) => {
        clearTimeout(timer)
        resolve(reply)
      })
      this.send({ ...frame, requestId })
    })
  }

  close(): void {
    this.socket.close()
  }
}

export async function runLoadTest(stack: TestStack, options: LoadTestOptions): Promise<LoadTestReport> {
  const log = options.log ?? (() => {})
  const started = performance.now()
  const deadline = started + options.deadlineMs
  const remaining = () => Math.max(1, deadline - performance.now())
  const problems: string[] = []
  const url = `${stack.wsUrl}/local`

  const pairs = await createPairs(stack.db, options.conversations, 'load')
  log(`created ${pairs.length} conversations`)
  const clients: LoadClient[] = []
  try {
    const plan = pairs.flatMap((pair) => [
      { pair, role: 'member' as const, email: pair.member.email },
      { pair, role: 'trainer' as const, email: pair.trainer.email },
    ])
    const batch = options.connectConcurrency ?? 50
    for (let i = 0; i < plan.length; i += batch) {
      const opened = await Promise.all(
        plan.slice(i, i + batch).map(async ({ pair, role, email }) => LoadClient.open(url, await stack.token(email), pair, role)),
      )
      clients.push(...opened)
    }
    log(`connected ${clients.length} clients`)
    await Promise.all(clients.map((client) => client.request({ action: 'joinConversation', conversationId: client.pair.conversationId }, remaining())))
    log('every client joined its conversation')

    // Send: every client at once, each pipelining its messages with small random pauses.
    interface Sent {
      client: LoadClient
      clientMessageId: string
      frame: Frame
      at: number
      attempts: number
      repliesSeen: number
      /** Answered for good: acknowledged, refused for a reason a retry cannot fix, or out of attempts. */
      final: boolean
    }
    const sent = new Map<string, Sent>()
    const sendStarted = performance.now()
    await Promise.all(
      clients.map(async (client) => {
        for (let n = 0; n < options.messagesPerClient; n++) {
          const clientMessageId = `${client.role}-${client.pair.conversationId}-${n}`
          const frame = { action: 'sendMessage', requestId: clientMessageId, conversationId: client.pair.conversationId, clientMessageId, body: `${client.role} #${n}` }
          sent.set(clientMessageId, { client, clientMessageId, frame, at: performance.now(), attempts: 1, repliesSeen: 0, final: false })
          client.send(frame)
          if (options.maxGapMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * options.maxGapMs))
        }
      }),
    )

    // Settle: every send answered for good (or the deadline), then no frame in flight anywhere.
    // Like an app, a client retries the same clientMessageId after an error that says "try
    // again", which guarantee 4 makes safe; with nothing failing, there are no retries.
    let retries = 0
    const repliesTo = (s: Sent) => s.client.received.filter((r) => r.frame.requestId === s.clientMessageId)
    const settled = (s: Sent): boolean => {
      const replies = repliesTo(s)
      if (replies.length === s.repliesSeen) return s.final
      s.repliesSeen = replies.length
      const last = (replies.at(-1) as Received).frame
      if (last.type === 'error' && RETRYABLE.has(last.code) && s.attempts < MAX_ATTEMPTS) {
        s.attempts++
        retries++
        const wait = last.code === 'rate_limited' ? Number(last.details?.retryAfterMs ?? 1000) : 100 * 2 ** s.attempts
        setTimeout(() => s.client.send(s.frame), wait)
        return false
      }
      s.final = true
      return true
    }
    // filter, not some: every entry's replies are looked at on every pass, so retries go out promptly.
    while ([...sent.values()].filter((s) => !settled(s)).length > 0 && performance.now() < deadline) await sleep(20)
    const sendPhaseMs = performance.now() - sendStarted
    await stack.ws.idle()
    let count = -1
    while (count !== totalFrames(clients) && performance.now() < deadline) {
      count = totalFrames(clients)
      await sleep(100)
    }
    log(`send phase done in ${Math.round(sendPhaseMs)} ms`)

    // What the database holds: the truth every client is checked against.
    const rows = await stack.db
      .selectFrom('messages')
      .where('conversation_id', 'in', pairs.map((p) => p.conversationId))
      .select(['id', 'conversation_id', 'seq', 'sender_id', 'client_message_id'])
      .orderBy('seq')
      .execute()
    const storedById = new Map(rows.map((row) => [row.id, row]))
    const storedByConversation = new Map<string, typeof rows>()
    for (const row of rows) storedByConversation.set(row.conversation_id, [...(storedByConversation.get(row.conversation_id) ?? []), row])

    // Acknowledgements: exactly one reply per sent frame, a newMessage for a stored message.
    const acks = { received: 0, missing: 0, duplicated: 0, refused: 0, withoutStoredMessage: 0, retries }
    const ackLatencies: number[] = []
    for (const s of sent.values()) {
      const replies = repliesTo(s)
      if (replies.length === 0) acks.missing++
      if (replies.filter((r) => r.frame.type === 'newMessage').length > 1) acks.duplicated++
      const reply = replies.at(-1)
      if (!reply) continue
      if (reply.frame.type !== 'newMessage') {
        acks.refused++
        problems.push(`${s.clientMessageId}: ${JSON.stringify(reply.frame).slice(0, 200)}`)
        continue
      }
      acks.received++
      ackLatencies.push(reply.at - s.at)
      const row = storedById.get(reply.frame.message.id)
      if (!row || row.client_message_id !== s.clientMessageId) acks.withoutStoredMessage++
    }

    // Deliveries: every stored message at the other participant's connection, exactly once, and nothing else.
    const deliveries = { expected: 0, delivered: 0, lost: 0, duplicated: 0, unexpected: 0 }
    const deliveryLatencies: number[] = []
    const order = { intact: true, clientsOutOfOrder: 0, framesArrivedOutOfOrder: 0, filledByCatchUp: 0 }
    for (const client of clients) {
      const conversationId = client.pair.conversationId
      const expected = (storedByConversation.get(conversationId) ?? []).filter((row) => row.sender_id !== client.userId)
      const live = new Map<string, Received[]>()
      for (const received of client.received) {
        const { frame } = received
        // Replies to this client's own requests (acknowledgements, refusals, history) are accounted for above.
        if (frame.requestId !== undefined) continue
        // The other participant joining after us is announced; that is presence, not a message.
        if (frame.type === 'userJoined' && frame.conversationId === conversationId && frame.userId !== client.userId) continue
        // So is the other participant's connection opening or closing (#13 presence).
        if (frame.type === 'presence' && frame.conversationId === conversationId && frame.userId !== client.userId) continue
        const message = frame.type === 'newMessage' ? frame.message : undefined
        const row = message ? storedById.get(message.id) : undefined
        if (!message || !row || row.conversation_id !== conversationId || row.sender_id === client.userId || message.seq !== row.seq) {
          deliveries.unexpected++
          problems.push(`unexpected at ${client.role} of ${conversationId}: ${JSON.stringify(frame).slice(0, 200)}`)
          continue
        }
        live.set(message.id, [...(live.get(message.id) ?? []), received])
      }
      for (const row of expected) {
        deliveries.expected++
        const copies = live.get(row.id) ?? []
        if (copies.length === 0) deliveries.lost++
        else if (copies.length > 1) deliveries.duplicated++
        else deliveries.delivered++
        const first = copies[0]
        const origin = sent.get(row.client_message_id)
        if (first && origin) deliveryLatencies.push(first.at - origin.at)
      }

      // The app's view: every message of the conversation (its own acks and the other side's
      // frames) applied in seq order, holes filled by catch-up.
      const inbox = new ConversationInbox()
      for (const { frame } of client.received) {
        if (frame.type === 'newMessage' && frame.message.conversationId === conversationId) inbox.accept(frame.message)
      }
      const all = storedByConversation.get(conversationId) ?? []
      for (let hole = holeOrTail(inbox, all.length); hole !== undefined && performance.now() < deadline; hole = holeOrTail(inbox, all.length)) {
        const page = await client.request({ action: 'joinConversation', conversationId, afterSeq: hole, limit: 100 }, remaining())
        const before = inbox.applied.length
        for (const message of page.messages ?? []) inbox.accept(message)
        order.filledByCatchUp += inbox.applied.length - before
        if (!page.hasMore && inbox.applied.length === before) break
      }
      order.framesArrivedOutOfOrder += inbox.arrivedOutOfOrder
      const appliedSeqs = inbox.applied.map((m) => m.seq)
      const inOrder = appliedSeqs.length === all.length && appliedSeqs.every((seq, i) => seq === i + 1 && inbox.applied[i]?.id === all[i]?.id)
      if (!inOrder) {
        order.intact = false
        order.clientsOutOfOrder++
        problems.push(`${client.role} of ${conversationId} applied ${appliedSeqs.length} of ${all.length} messages in order`)
      }
    }

    const stored = rows.filter((row) => sent.has(row.client_message_id)).length
    const duplicatesStored = rows.length - new Set(rows.map((row) => `${row.sender_id}/${row.client_message_id}`)).size
    if (stored !== sent.size) problems.push(`${sent.size} sent, ${stored} stored`)
    if (duplicatesStored > 0) problems.push(`${duplicatesStored} messages stored twice`)
    const durationMs = performance.now() - started
    if (performance.now() > deadline) problems.push(`the run exceeded its deadline of ${options.deadlineMs} ms`)

    const passed =
      problems.length === 0 &&
      acks.missing === 0 &&
      acks.duplicated === 0 &&
      acks.refused === 0 &&
      acks.withoutStoredMessage === 0 &&
      deliveries.lost === 0 &&
      deliveries.duplicated === 0 &&
      deliveries.unexpected === 0 &&
      order.intact
    return {
      databaseKind: stack.databaseKind,
      clients: clients.length,
      conversations: pairs.length,
      messagesSent: sent.size,
      acks,
      stored,
      deliveries,
      order,
      ackLatencyMs: percentiles(ackLatencies),
      deliveryLatencyMs: percentiles(deliveryLatencies),
      sendPhaseMs: Math.round(sendPhaseMs),
      messagesPerSecond: Math.round(sent.size / (sendPhaseMs / 1000)),
      durationMs: Math.round(durationMs),
      passed,
      problems: problems.slice(0, 20),
    }
  } finally {
    for (const client of clients) client.close()
  }
}

/** The afterSeq to ask from: a hole before held messages, or a tail the live frames never brought. */
function holeOrTail(inbox: ConversationInbox, storedCount: number): number | undefined {
  return inbox.hole() ?? (inbox.lastApplied < storedCount ? inbox.lastApplied : undefined)
}

function totalFrames(clients: readonly LoadClient[]): number {
  return clients.reduce((sum, client) => sum + client.received.length, 0)
}

function percentiles(values: number[]): Latency {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
  const round = (n: number) => Math.round(n * 10) / 10
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted[sorted.length - 1] as number) }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Errors after which an app sends the same clientMessageId again (nothing was stored, or it was and the retry says so). */
const RETRYABLE = new Set(['internal', 'unavailable', 'rate_limited'])
const MAX_ATTEMPTS = 5

/** `npm run loadtest [-- --conversations=200 --messages=10 --gap=5000 --deadline=180000]` */
async function main(): Promise<void> {
  const args = Object.fromEntries(
    process.argv.slice(2).flatMap((arg) => {
      const match = /^--(\w+)=(\d+)$/.exec(arg)
      return match ? [[match[1] as string, Number(match[2])]] : []
    }),
  )
  // The production defaults: 10 messages per user at this pace stay inside them, so a
  // rate_limited answer would be a failure, not noise.
  Object.assign(process.env, { RATE_LIMIT_BURST: '20', RATE_LIMIT_PER_SECOND: '1', MAX_CONNECTIONS_PER_USER: '10' })
  const stack = await startTestStack()
  try {
    const report = await runLoadTest(stack, {
      conversations: args.conversations ?? 200,
      messagesPerClient: args.messages ?? 10,
      maxGapMs: args.gap ?? 5000,
      deadlineMs: args.deadline ?? 180_000,
      log: (line) => console.error(`loadtest: ${line}`),
    })
    console.log(JSON.stringify(report, null, 2))
    console.error(report.passed ? 'loadtest: PASSED' : 'loadtest: FAILED')
    process.exitCode = report.passed ? 0 : 1
  } finally {
    await stack.close()
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
