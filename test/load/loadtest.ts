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
 * - every request (each send attempt, each join and catch-up) carries its own requestId and must
 *   get exactly one answer: every reply is recorded, so an acknowledgement followed by an error,
 *   two answers of any kind, or none at all fails the run (#11 item 1); a retry is a new request
 *   with the same clientMessageId;
 * - every sent message must end acknowledged, every acknowledgement of one clientMessageId must
 *   name the same message, and that message must be stored (guarantee 1), once (guarantee 4);
 * - order (guarantee 2 as docs/reliability.md states it): each client applies messages in seq
 *   order through ConversationInbox, filling any hole with `joinConversation {afterSeq}`; the run
 *   passes only if every client ends with exactly the stored messages, in seq order. How many
 *   frames arrived out of seq order on the wire is reported, not judged.
 *
 * The run passes only when `problems` is empty: every failed check adds a line saying what and
 * how many. Loopback only, bounded in time (deadlineMs) and count. `npm run loadtest` runs the
 * full size; test/e2e/guarantees.test.ts runs a small one in `npm test`.
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
  /** Every request sent (send attempts, joins, catch-up pages) by how it was answered. */
  requests: RequestTally
  /** Joins sent again after a "try again" answer. */
  joinRetries: number
  acks: {
    /** Messages acknowledged (on their last attempt). */
    received: number
    /** Messages whose last attempt got no answer. */
    missing: number
    /** Messages whose attempts were acknowledged with different message ids. */
    conflicting: number
    /** Messages whose last answer was an error. */
    refused: number
    withoutStoredMessage: number
    /** Attempts after the first, and the error codes that caused them. */
    retries: number
    retriesByCode: Record<string, number>
  }
  stored: number
  deliveries: { expected: number; delivered: number; lost: number; duplicated: number; unexpected: number }
  order: { intact: boolean; clientsOutOfOrder: number; framesArrivedOutOfOrder: number; filledByCatchUp: number }
  /** From a message's first send to its acknowledgement (retries included: what the sender waits). */
  ackLatencyMs: Latency
  /** From the acknowledged attempt's own send to its acknowledgement. */
  ackedAttemptLatencyMs: Latency
  /** From a message's first send to its arrival at the other participant. */
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
  /** Every request this client sent, by requestId, with every reply that carried it. */
  readonly requests = new Map<string, TrackedRequest>()
  private waiters = new Map<string, (frame: Frame) => void>()

  private constructor(
    readonly socket: WebSocket,
    readonly pair: Pair,
    readonly role: 'member' | 'trainer',
  ) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      const received = { frame, at: performance.now() }
      this.received.push(received)
      const requestId = typeof frame.requestId === 'string' ? frame.requestId : undefined
      if (requestId) this.requests.get(requestId)?.replies.push(received)
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
    if (typeof frame.requestId === 'string') {
      this.requests.set(frame.requestId, { requestId: frame.requestId, action: String(frame.action), at: performance.now(), replies: [] })
    }
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
  const problems = new Problems()
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
    // A join refused with "try again" (`unavailable` when the pool is exhausted) is retried like a
    // send; a client left unjoined would get notifications instead of messages, so it is a problem.
    let joinRetries = 0
    await Promise.all(
      clients.map(async (client) => {
        for (let attempt = 1; ; attempt++) {
          const reply = await client.request({ action: 'joinConversation', conversationId: client.pair.conversationId }, remaining())
          if (reply.type === 'conversationHistory') return
          if (reply.type === 'error' && RETRYABLE.has(reply.code) && attempt < MAX_ATTEMPTS) {
            joinRetries++
            await sleep(Number(reply.details?.retryAfterMs ?? 100 * 2 ** attempt))
            continue
          }
          problems.add(`a client that could not join (${String(reply.code ?? reply.type)})`, `the ${client.role} of ${client.pair.conversationId} after ${attempt} attempts`)
          return
        }
      }),
    )
    log(`every client joined its conversation (${joinRetries} join retries)`)

    // Send: every client at once, each pipelining its messages with small random pauses. Each
    // attempt is its own request (requestId `<clientMessageId>#<attempt>`), so every answer to
    // every attempt is seen.
    interface Attempt {
      requestId: string
      at: number
    }
    interface Sent {
      client: LoadClient
      clientMessageId: string
      attempts: Attempt[]
      /** Answered for good: acknowledged, refused for a reason a retry cannot fix, or out of attempts. */
      final: boolean
    }
    const sent = new Map<string, Sent>()
    const retriesByCode: Record<string, number> = {}
    const attempt = (s: Sent) => {
      const requestId = `${s.clientMessageId}#${s.attempts.length + 1}`
      s.attempts.push({ requestId, at: performance.now() })
      const body = `${s.client.role} #${s.clientMessageId.slice(s.clientMessageId.lastIndexOf('-') + 1)}`
      s.client.send({ action: 'sendMessage', requestId, conversationId: s.client.pair.conversationId, clientMessageId: s.clientMessageId, body })
    }
    const sendStarted = performance.now()
    await Promise.all(
      clients.map(async (client) => {
        for (let n = 0; n < options.messagesPerClient; n++) {
          const clientMessageId = `${client.role}-${client.pair.conversationId}-${n}`
          const s: Sent = { client, clientMessageId, attempts: [], final: false }
          sent.set(clientMessageId, s)
          attempt(s)
          if (options.maxGapMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * options.maxGapMs))
        }
      }),
    )

    // Settle: every send answered for good (or the deadline), then no frame in flight anywhere.
    // Like an app, a client retries the same clientMessageId after an error that says "try
    // again", which guarantee 4 makes safe.
    let retries = 0
    const lastAttempt = (s: Sent) => s.client.requests.get((s.attempts.at(-1) as Attempt).requestId) as TrackedRequest
    const retrying = new Set<Sent>()
    const settled = (s: Sent): boolean => {
      if (s.final) return true
      if (retrying.has(s)) return false
      const first = lastAttempt(s).replies[0]
      if (!first) return false
      if (first.frame.type === 'error' && RETRYABLE.has(first.frame.code) && s.attempts.length < MAX_ATTEMPTS) {
        retries++
        retriesByCode[first.frame.code] = (retriesByCode[first.frame.code] ?? 0) + 1
        const wait = first.frame.code === 'rate_limited' || first.frame.code === 'unavailable' ? Number(first.frame.details?.retryAfterMs ?? 1000) : 100 * 2 ** s.attempts.length
        retrying.add(s)
        setTimeout(() => {
          retrying.delete(s)
          attempt(s)
        }, wait)
        return false
      }
      s.final = true
      return true
    }
    // filter, not some: every entry is looked at on every pass, so retries go out promptly.
    while ([...sent.values()].filter((s) => !settled(s)).length > 0 && performance.now() < deadline) await sleep(20)
    const sendPhaseMs = performance.now() - sendStarted
    await stack.ws.idle()
    let count = -1
    while (count !== totalFrames(clients) && performance.now() < deadline) {
      count = totalFrames(clients)
      await sleep(100)
    }
    log(`send phase done in ${Math.round(sendPhaseMs)} ms (${retries} retries)`)

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

    // Acknowledgements: each message ends acknowledged, by one message id, which is stored.
    const acks = { received: 0, missing: 0, conflicting: 0, refused: 0, withoutStoredMessage: 0, retries, retriesByCode }
    const ackLatencies: number[] = []
    const ackedAttemptLatencies: number[] = []
    for (const s of sent.values()) {
      const answers = s.attempts.flatMap((a) => s.client.requests.get(a.requestId)?.replies ?? [])
      const ids = new Set(answers.filter((r) => r.frame.type === 'newMessage').map((r) => r.frame.message.id as string))
      if (ids.size > 1) {
        acks.conflicting++
        problems.add('a message acknowledged as different messages', `${s.clientMessageId}: ${ids.size} message ids`)
      }
      const last = lastAttempt(s)
      const reply = last.replies[0]
      if (!reply) {
        acks.missing++
        problems.add('a message whose last attempt was never answered', `${s.clientMessageId}, attempt ${s.attempts.length}`)
        continue
      }
      if (reply.frame.type !== 'newMessage') {
        acks.refused++
        problems.add(
          `a message refused on its last attempt (${String(reply.frame.code ?? reply.frame.type)})`,
          `${s.clientMessageId}, attempt ${s.attempts.length} of ${MAX_ATTEMPTS}: ${JSON.stringify(reply.frame).slice(0, 200)}`,
        )
        continue
      }
      acks.received++
      ackLatencies.push(reply.at - (s.attempts[0] as Attempt).at)
      ackedAttemptLatencies.push(reply.at - last.at)
      const row = storedById.get(reply.frame.message.id)
      if (!row || row.client_message_id !== s.clientMessageId) {
        acks.withoutStoredMessage++
        problems.add('an acknowledgement of a message not stored under its clientMessageId', `${s.clientMessageId}: ${String(reply.frame.message.id)}`)
      }
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
        // Replies to this client's own requests (acknowledgements, refusals, history) are
        // accounted for per request; one carrying a requestId it never sent is unexpected.
        if (typeof frame.requestId === 'string' && client.requests.has(frame.requestId)) continue
        // The other participant joining after us is announced; that is presence, not a message.
        if (frame.type === 'userJoined' && frame.conversationId === conversationId && frame.userId !== client.userId) continue
        // So is the other participant's connection opening or closing (#13 presence).
        if (frame.type === 'presence' && frame.conversationId === conversationId && frame.userId !== client.userId) continue
        const message = frame.type === 'newMessage' ? frame.message : undefined
        const row = message ? storedById.get(message.id) : undefined
        if (!message || !row || row.conversation_id !== conversationId || row.sender_id === client.userId || message.seq !== row.seq) {
          deliveries.unexpected++
          problems.add(`an unexpected ${String(frame.type)} frame`, `at the ${client.role} of ${conversationId}: ${JSON.stringify(frame).slice(0, 300)}`)
          continue
        }
        live.set(message.id, [...(live.get(message.id) ?? []), received])
      }
      for (const row of expected) {
        deliveries.expected++
        const copies = live.get(row.id) ?? []
        if (copies.length === 0) {
          deliveries.lost++
          problems.add('a stored message lost (never delivered live)', `seq ${row.seq} at the ${client.role} of ${conversationId}`)
        } else if (copies.length > 1) {
          deliveries.duplicated++
          problems.add('a message delivered more than once', `seq ${row.seq} at the ${client.role} of ${conversationId}: ${copies.length} times`)
        } else deliveries.delivered++
        const first = copies[0]
        const origin = sent.get(row.client_message_id)
        if (first && origin) deliveryLatencies.push(first.at - (origin.attempts[0] as { at: number }).at)
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
        problems.add('a client whose applied order is broken', `the ${client.role} of ${conversationId} applied ${appliedSeqs.length} of ${all.length} messages in order`)
      }
    }

    // Every request of every client, send attempts, joins and catch-up pages alike: one answer each.
    const answers = tallyRequests(clients.flatMap((client) => [...client.requests.values()]))
    for (const [kind, example] of answers.problems) problems.add(kind, example)

    const stored = rows.filter((row) => sent.has(row.client_message_id)).length
    const duplicatesStored = rows.length - new Set(rows.map((row) => `${row.sender_id}/${row.client_message_id}`)).size
    if (stored !== sent.size) problems.add('messages sent but not stored', `${sent.size} sent, ${stored} stored`)
    if (duplicatesStored > 0) problems.add('messages stored twice', `${duplicatesStored} of them`)
    const durationMs = performance.now() - started
    if (performance.now() > deadline) problems.add('the run exceeded its deadline', `${options.deadlineMs} ms`)

    // Every check above that fails says so in `problems`: a run passes exactly when it is empty.
    const passed = problems.size === 0
    return {
      databaseKind: stack.databaseKind,
      clients: clients.length,
      conversations: pairs.length,
      messagesSent: sent.size,
      requests: answers.tally,
      joinRetries,
      acks,
      stored,
      deliveries,
      order,
      ackLatencyMs: percentiles(ackLatencies),
      ackedAttemptLatencyMs: percentiles(ackedAttemptLatencies),
      deliveryLatencyMs: percentiles(deliveryLatencies),
      sendPhaseMs: Math.round(sendPhaseMs),
      messagesPerSecond: Math.round(sent.size / (sendPhaseMs / 1000)),
      durationMs: Math.round(durationMs),
      passed,
      problems: problems.lines(),
    }
  } finally {
    for (const client of clients) client.close()
  }
}

/**
 * What failed, by kind: each line says how many times and shows the first instance, so a FAILED
 * run always says why, however many instances there are.
 */
class Problems {
  private readonly kinds = new Map<string, { count: number; example: string }>()

  add(kind: string, example: string): void {
    const entry = this.kinds.get(kind)
    if (entry) entry.count++
    else this.kinds.set(kind, { count: 1, example })
  }

  get size(): number {
    return this.kinds.size
  }

  lines(): string[] {
    return [...this.kinds].map(([kind, { count, example }]) => `${count} × ${kind}; the first: ${example}`)
  }
}

export interface TrackedRequest {
  requestId: string
  action: string
  /** When it was sent (performance.now()). */
  at: number
  /** Every frame that carried its requestId, in arrival order. */
  replies: Received[]
}

export interface RequestTally {
  sent: number
  answeredOnce: number
  unanswered: number
  /** Two or more answers; `acknowledgedThenError` counts those where an error followed an acknowledgement. */
  answeredMoreThanOnce: number
  acknowledgedThenError: number
}

/**
 * One request, one answer: every request must have exactly one reply carrying its requestId. An
 * acknowledgement followed by an error (#11 item 1), any second answer, and no answer at all are
 * each a problem naming the request and what it got.
 */
export function tallyRequests(requests: readonly TrackedRequest[]): { tally: RequestTally; problems: Array<[kind: string, example: string]> } {
  const tally: RequestTally = { sent: requests.length, answeredOnce: 0, unanswered: 0, answeredMoreThanOnce: 0, acknowledgedThenError: 0 }
  const problems: Array<[string, string]> = []
  const describe = (frame: Frame) => (frame.type === 'error' ? `error ${String(frame.code)}` : String(frame.type))
  for (const request of requests) {
    const { replies } = request
    if (replies.length === 1) {
      tally.answeredOnce++
      continue
    }
    if (replies.length === 0) {
      tally.unanswered++
      problems.push([`a ${request.action} request never answered`, request.requestId])
      continue
    }
    tally.answeredMoreThanOnce++
    const ackIndex = replies.findIndex((r) => r.frame.type === 'newMessage')
    const errorAfterAck = ackIndex >= 0 && replies.slice(ackIndex + 1).some((r) => r.frame.type === 'error')
    if (errorAfterAck) tally.acknowledgedThenError++
    problems.push([
      errorAfterAck ? `a ${request.action} request answered with an error after its acknowledgement` : `a ${request.action} request answered more than once`,
      `${request.requestId}: ${replies.length} answers (${replies.map((r) => describe(r.frame)).join(', ')})`,
    ])
  }
  return { tally, problems }
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
    console.error(
      `loadtest: ${report.messagesSent} messages, ${report.requests.sent} requests, ${report.acks.retries} retries` +
        ` ${JSON.stringify(report.acks.retriesByCode)}, ack p50/p99 ${report.ackLatencyMs.p50}/${report.ackLatencyMs.p99} ms` +
        ` (acknowledged attempt ${report.ackedAttemptLatencyMs.p50}/${report.ackedAttemptLatencyMs.p99} ms),` +
        ` delivery p50/p99 ${report.deliveryLatencyMs.p50}/${report.deliveryLatencyMs.p99} ms, ${report.messagesPerSecond} msg/s`,
    )
    if (report.passed) console.error('loadtest: PASSED')
    else console.error(`loadtest: FAILED:\n${report.problems.map((line) => `  ${line}`).join('\n')}`)
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
