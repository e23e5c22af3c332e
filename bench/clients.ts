import { parentPort } from 'node:worker_threads'
import WebSocket from 'ws'

/**
 * The bench's WebSocket clients, in a worker thread so that generating load and timing its
 * arrival does not run on the event loop of the stack under test. Driven by client-pool.ts.
 * Every send and receive is timed here, on this thread's clock.
 */

export interface ClientSpec {
  key: string
  token: string
}

export interface ConverseArgs {
  label: string
  durationMs: number
  conversations: Array<{ conversationId: string; senderKey: string; recipientKey: string }>
}

export interface ConverseResult {
  sent: number
  delivered: number
  /** From the first send to the last delivery. */
  elapsedMs: number
  /** Send to receipt by the recipient, one per delivered message. */
  latencies: number[]
  /**
   * Deliveries that arrived after a delivery with a higher seq in the same conversation. Each
   * PostToConnection is its own HTTP request, so the transport does not promise arrival order;
   * clients order by seq. Counted, not failed.
   */
  overtaken: number
  failures: string[]
}

export interface FanOutTarget {
  conversationId: string
  senderKey: string
  recipientKeys: string[]
}

export interface FanOutArgs {
  label: string
  /** Taken in turns, one message each per repetition, so every target sees the same machine. */
  targets: FanOutTarget[]
  reps: number
}

export interface FanOutResult {
  /** Per target: send to the last recipient connection's receipt, one per repetition. */
  times: number[][]
  /** Per target: send to the sender's acknowledgement. */
  ackTimes: number[][]
  failures: string[]
}

export type FrameCounts = Record<string, Record<string, number>>

export type Command =
  | { op: 'open'; args: { url: string; clients: ClientSpec[]; concurrency: number } }
  | { op: 'join'; args: { joins: Array<{ key: string; conversationId: string }> } }
  | { op: 'converse'; args: ConverseArgs }
  | { op: 'fanOut'; args: FanOutArgs }
  | { op: 'counts'; args: { reset: boolean } }
  | { op: 'close'; args: { keys?: string[] } }

interface MessageJson {
  id: string
  conversationId: string
  seq: number
  clientMessageId: string
}

type Frame = { type: string; requestId?: string; message?: unknown; code?: string } & Record<string, unknown>

type Hook = (client: Client, frame: Frame, at: number) => void

// Bounds for what never comes (a lost reply or frame), not measurements: generous, so a busy
// machine makes the bench slow rather than wrong.
const OPEN_TIMEOUT_MS = 60_000
const REQUEST_TIMEOUT_MS = 60_000
/** After the send window closes, how long outstanding messages may take to arrive. */
const DRAIN_TIMEOUT_MS = 60_000
const MAX_FAILURES = 50

let hook: Hook | undefined
const clients = new Map<string, Client>()
const errorFrames: string[] = []

class Client {
  readonly counts: Record<string, number> = {}
  private readonly waiting = new Map<string, (frame: Frame) => void>()

  constructor(
    readonly key: string,
    readonly socket: WebSocket,
  ) {
    socket.on('message', (data) => this.receive(data.toString(), performance.now()))
  }

  private receive(text: string, at: number): void {
    const frame = JSON.parse(text) as Frame
    this.counts[frame.type] = (this.counts[frame.type] ?? 0) + 1
    if (frame.type === 'error' && errorFrames.length < 20) errorFrames.push(`${this.key}: ${text.slice(0, 300)}`)
    const requestId = frame.requestId
    const waiter = requestId === undefined ? undefined : this.waiting.get(requestId)
    if (waiter && requestId !== undefined) {
      this.waiting.delete(requestId)
      waiter(frame)
      return
    }
    hook?.(this, frame, at)
  }

  send(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame))
  }

  request(frame: Record<string, unknown>, requestId: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId)
        reject(new Error(`${this.key}: no reply to ${String(frame.action)} within ${REQUEST_TIMEOUT_MS} ms`))
      }, REQUEST_TIMEOUT_MS)
      this.waiting.set(requestId, (reply) => {
        clearTimeout(timer)
        resolve(reply)
      })
      this.send({ ...frame, requestId })
    })
  }
}

function client(key: string): Client {
  const found = clients.get(key)
  if (!found) throw new Error(`no client ${key}`)
  return found
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function inBatches<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await task(items[next++] as T)
  })
  await Promise.all(lanes)
}

function open(url: string, spec: ClientSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(spec.token)}`)
    const timer = setTimeout(() => {
      socket.terminate()
      reject(new Error(`${spec.key}: handshake took over ${OPEN_TIMEOUT_MS} ms`))
    }, OPEN_TIMEOUT_MS)
    socket.once('open', () => {
      clearTimeout(timer)
      clients.set(spec.key, new Client(spec.key, socket))
      resolve()
    })
    socket.once('unexpected-response', (_request, response) => {
      clearTimeout(timer)
      reject(new Error(`${spec.key}: handshake refused with ${response.statusCode}`))
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

let requestCounter = 0

async function join(joins: Array<{ key: string; conversationId: string }>): Promise<void> {
  await inBatches(joins, 16, async ({ key, conversationId }) => {
    const reply = await client(key).request({ action: 'joinConversation', conversationId, limit: 1 }, `join-${requestCounter++}`)
    if (reply.type !== 'conversationHistory') throw new Error(`${key}: join answered ${JSON.stringify(reply).slice(0, 200)}`)
  })
}

async function waitUntil(done: () => boolean, deadline: number): Promise<boolean> {
  while (!done()) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return true
}

/**
 * Each conversation's sender sends a message, and the next one as soon as its acknowledgement
 * arrives, until the window closes. Checks: every message acknowledged once to its sender and
 * delivered once to the recipient, with the seq it was acknowledged with; per conversation,
 * acknowledgements come in send order with seq increasing by exactly one, and the recipient
 * ends up with an unbroken run of seqs; the sender's connection gets no copy besides its
 * acknowledgement. Deliveries that arrive after a later seq are counted (see `overtaken`).
 */
async function converse(args: ConverseArgs): Promise<ConverseResult> {
  const failures: string[] = []
  const fail = (message: string) => {
    if (failures.length < MAX_FAILURES) failures.push(message)
  }
  interface State {
    index: number
    conversationId: string
    sender: Client
    recipient: Client
    next: number
    sentAt: Map<string, number>
    ackSeq: Map<string, number>
    deliveredSeq: Map<string, number>
    lastAckSeq: number | undefined
    highestDeliveredSeq: number | undefined
    finished: boolean
  }
  const bySender = new Map<Client, State>()
  const byRecipient = new Map<Client, State>()
  const states = args.conversations.map((conversation, index): State => {
    const state: State = {
      index,
      conversationId: conversation.conversationId,
      sender: client(conversation.senderKey),
      recipient: client(conversation.recipientKey),
      next: 0,
      sentAt: new Map(),
      ackSeq: new Map(),
      deliveredSeq: new Map(),
      lastAckSeq: undefined,
      highestDeliveredSeq: undefined,
      finished: false,
    }
    if (bySender.has(state.sender) || byRecipient.has(state.recipient) || state.sender === state.recipient) {
      throw new Error('each client may take one role in one conversation')
    }
    bySender.set(state.sender, state)
    byRecipient.set(state.recipient, state)
    return state
  })

  const latencies: number[] = []
  let sent = 0
  let delivered = 0
  let overtaken = 0
  let firstSend = Number.POSITIVE_INFINITY
  let lastDelivery = 0
  const start = performance.now()
  const windowEnd = start + args.durationMs

  const sendNext = (state: State) => {
    const clientMessageId = `${args.label}-${state.index}-${state.next++}`
    const at = performance.now()
    firstSend = Math.min(firstSend, at)
    state.sentAt.set(clientMessageId, at)
    sent++
    state.sender.send({
      action: 'sendMessage',
      requestId: clientMessageId,
      conversationId: state.conversationId,
      clientMessageId,
      body: `Message ${state.next} of ${args.label}: how did the session go today?`,
    })
  }

  hook = (from, frame, at) => {
    const asSender = bySender.get(from)
    const asRecipient = byRecipient.get(from)
    const state = asSender ?? asRecipient
    if (!state) return
    if (frame.type === 'error') return fail(`${from.key} got an error frame: ${JSON.stringify(frame).slice(0, 200)}`)
    if (frame.type !== 'newMessage') return
    const message = frame.message as MessageJson
    if (message.conversationId !== state.conversationId) return fail(`${from.key} got a message of another conversation`)
    const id = message.clientMessageId
    if (asSender) {
      if (frame.requestId === undefined) return fail(`${from.key} (the sender) got its own message as a delivery`)
      if (!state.sentAt.has(id)) return fail(`${from.key} got an acknowledgement for unknown ${id}`)
      if (state.ackSeq.has(id)) return fail(`${from.key} got ${id} acknowledged twice`)
      if (state.lastAckSeq !== undefined && message.seq !== state.lastAckSeq + 1) {
        fail(`${from.key}: acknowledgement seq ${message.seq} after ${state.lastAckSeq}`)
      }
      state.lastAckSeq = message.seq
      state.ackSeq.set(id, message.seq)
      if (at < windowEnd) sendNext(state)
      else state.finished = true
      return
    }
    if (frame.requestId !== undefined) fail(`${from.key} (the recipient) got the sender's requestId`)
    const sentAt = state.sentAt.get(id)
    if (sentAt === undefined) return fail(`${from.key} got unknown message ${id}`)
    if (state.deliveredSeq.has(id)) return fail(`${from.key} got ${id} twice`)
    if (state.highestDeliveredSeq !== undefined && message.seq < state.highestDeliveredSeq) overtaken++
    state.highestDeliveredSeq = Math.max(message.seq, state.highestDeliveredSeq ?? 0)
    state.deliveredSeq.set(id, message.seq)
    delivered++
    lastDelivery = Math.max(lastDelivery, at)
    latencies.push(at - sentAt)
  }

  try {
    for (const state of states) sendNext(state)
    const drained = await waitUntil(
      () => states.every((state) => state.finished) && delivered === sent,
      windowEnd + DRAIN_TIMEOUT_MS,
    )
    // Late duplicates have a moment to show up before the verdict.
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (!drained) fail(`${sent - delivered} of ${sent} messages still undelivered ${DRAIN_TIMEOUT_MS} ms after the window`)
    let unacknowledged = 0
    let undelivered = 0
    let mismatched = 0
    for (const state of states) {
      for (const id of state.sentAt.keys()) {
        const ackSeq = state.ackSeq.get(id)
        const deliveredSeq = state.deliveredSeq.get(id)
        if (ackSeq === undefined) unacknowledged++
        if (deliveredSeq === undefined) undelivered++
        if (ackSeq !== undefined && deliveredSeq !== undefined && ackSeq !== deliveredSeq) mismatched++
      }
    }
    // Whatever the arrival order, each recipient must hold one unbroken run of seqs.
    for (const state of states) {
      const seqs = [...state.deliveredSeq.values()].sort((a, b) => a - b)
      const gap = seqs.findIndex((seq, i) => i > 0 && seq !== (seqs[i - 1] as number) + 1)
      if (gap > 0) fail(`${state.recipient.key}: delivered seqs jump from ${seqs[gap - 1]} to ${seqs[gap]}`)
    }
    if (unacknowledged > 0) fail(`${unacknowledged} messages never acknowledged`)
    if (undelivered > 0) fail(`${undelivered} messages never delivered`)
    if (mismatched > 0) fail(`${mismatched} messages delivered with another seq than acknowledged`)
  } finally {
    hook = undefined
  }
  return { sent, delivered, elapsedMs: lastDelivery - firstSend, latencies, overtaken, failures }
}

/**
 * One message at a time: for each repetition, each target's sender sends one message, which
 * must reach every one of that target's recipient connections exactly once. Times the send to
 * the last receipt.
 */
async function fanOut(args: FanOutArgs): Promise<FanOutResult> {
  const failures: string[] = []
  const fail = (message: string) => {
    if (failures.length < MAX_FAILURES) failures.push(message)
  }
  const targets = args.targets.map((target) => ({
    ...target,
    sender: client(target.senderKey),
    recipients: new Set(target.recipientKeys.map(client)),
  }))
  const times: number[][] = targets.map(() => [])
  const ackTimes: number[][] = targets.map(() => [])
  try {
    for (let rep = 0; rep < args.reps; rep++) {
      for (let turn = 0; turn < targets.length; turn++) {
        const index = (rep + turn) % targets.length
        const target = targets[index] as (typeof targets)[number]
        const { sender, recipients } = target
        const id = `${args.label}-${index}-${rep}`
        const pending = new Set(recipients)
        let acknowledgedAt: number | undefined
        let lastAt = 0
        hook = (from, frame, at) => {
          const ours = from === sender || recipients.has(from)
          if (frame.type === 'error') return fail(`${from.key} got an error frame: ${JSON.stringify(frame).slice(0, 200)}`)
          if (frame.type !== 'newMessage') return
          const message = frame.message as MessageJson
          if (!ours) return fail(`${from.key} got ${message.clientMessageId}, which was not for it`)
          if (from === sender) {
            if (frame.requestId !== id || message.clientMessageId !== id) return fail(`sender got an unexpected message ${message.clientMessageId}`)
            if (acknowledgedAt !== undefined) return fail(`sender got ${id} acknowledged twice`)
            acknowledgedAt = at
            return
          }
          if (message.clientMessageId !== id) return fail(`${from.key} got ${message.clientMessageId} while waiting for ${id}`)
          if (!pending.delete(from)) return fail(`${from.key} got ${id} twice`)
          lastAt = Math.max(lastAt, at)
        }
        const sentAt = performance.now()
        sender.send({ action: 'sendMessage', requestId: id, conversationId: target.conversationId, clientMessageId: id, body: `Fan-out ${id}` })
        const done = await waitUntil(() => pending.size === 0 && acknowledgedAt !== undefined, sentAt + REQUEST_TIMEOUT_MS)
        if (!done) {
          fail(`${id}: ${pending.size} of ${recipients.size} connections never got it${acknowledgedAt === undefined ? ', no acknowledgement' : ''}`)
          return { times, ackTimes, failures }
        }
        times[index]?.push(lastAt - sentAt)
        ackTimes[index]?.push((acknowledgedAt as number) - sentAt)
      }
    }
    // Late duplicates have a moment to show up before the verdict.
    await new Promise((resolve) => setTimeout(resolve, 50))
  } finally {
    hook = undefined
  }
  return { times, ackTimes, failures }
}

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'open': {
      const { url, clients: specs, concurrency } = command.args
      await inBatches(specs, concurrency, (spec) => open(url, spec))
      return specs.length
    }
    case 'join':
      return join(command.args.joins)
    case 'converse':
      return converse(command.args)
    case 'fanOut':
      return fanOut(command.args)
    case 'counts': {
      const counts: FrameCounts = {}
      for (const [key, found] of clients) {
        counts[key] = { ...found.counts }
        if (command.args.reset) for (const type of Object.keys(found.counts)) delete found.counts[type]
      }
      return { counts, errorFrames: errorFrames.splice(0) }
    }
    case 'close': {
      const keys = command.args.keys ?? [...clients.keys()]
      await Promise.all(
        keys.map((key) => {
          const found = clients.get(key)
          clients.delete(key)
          if (!found || found.socket.readyState === WebSocket.CLOSED) return undefined
          return new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              found.socket.terminate()
              resolve()
            }, 3000)
            found.socket.once('close', () => {
              clearTimeout(timer)
              resolve()
            })
            found.socket.close()
          })
        }),
      )
      return keys.length
    }
  }
}

parentPort?.on('message', (message: { id: number; command: Command }) => {
  run(message.command).then(
    (result) => parentPort?.postMessage({ id: message.id, ok: true, result }),
    (error: unknown) => parentPort?.postMessage({ id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  )
})
