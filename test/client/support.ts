import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { ChatClient, type ChatClientOptions, type Message } from '../../client/src/index.ts'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import type { TestStack } from '../helpers/stack.ts'

/**
 * The client SDK against the local stack: a network that can be cut (new sockets are refused,
 * like airplane mode), clients that record what they saw, and the check that a member and a
 * trainer exchanged every message exactly once, in seq order, with nothing stored twice.
 */

export interface Network {
  online: boolean
  /** How many sockets were opened (attempts included) and how each closed. */
  dials: number
  closes: Array<{ code: number; reason: string }>
  /** `unauthorized` error frames the server sent. */
  unauthorized: number
  WebSocket: ChatClientOptions['WebSocket']
}

export function network(): Network {
  const net: Network = {
    online: true,
    dials: 0,
    closes: [],
    unauthorized: 0,
    WebSocket: undefined,
  }
  class NetworkWebSocket extends WebSocket {
    constructor(url: string) {
      net.dials++
      // Offline: the connect is refused, as with no route to the host (port 9 listens nowhere here).
      super(net.online ? url : url.replace(/^ws:\/\/[^/]+/, 'ws://127.0.0.1:9'))
      this.on('close', (code, reason) => net.closes.push({ code, reason: reason.toString() }))
      this.on('message', (data) => {
        if (String(data).includes('"code":"unauthorized"')) net.unauthorized++
      })
    }
  }
  net.WebSocket = NetworkWebSocket as unknown as ChatClientOptions['WebSocket']
  return net
}

export interface Side {
  client: ChatClient
  net: Network
  received: Message[]
  retries: string[]
  tokens: number
  /** Resolves when this side has received `count` messages. */
  receivedCount(count: number, timeoutMs?: number): Promise<void>
}

export function side(
  stack: TestStack,
  email: string,
  conversationId: string,
  options: Partial<ChatClientOptions> & { tokenSeconds?: number } = {},
): Side {
  const net = network()
  const received: Message[] = []
  const retries: string[] = []
  let waiters: Array<() => void> = []
  const { tokenSeconds, ...clientOptions } = options
  const result: Side = {
    net,
    received,
    retries,
    tokens: 0,
    client: new ChatClient({
      url: `${stack.wsUrl}/local`,
      httpUrl: stack.httpUrl,
      token: () => {
        result.tokens++
        return stack.token(email, tokenSeconds === undefined ? {} : { expiresInSeconds: tokenSeconds })
      },
      WebSocket: net.WebSocket,
      backoff: { baseMs: 100, maxMs: 1000 },
      holeGraceMs: 300,
      requestTimeoutMs: 10_000,
      ...clientOptions,
    }),
    receivedCount(count, timeoutMs = 300_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${email}: ${received.length} of ${count} messages after ${timeoutMs} ms`)), timeoutMs)
        // Each message wakes every waiter once (the list is emptied first), so a waiter still short
        // of its count registers again; without that, one woken early slept through the rest.
        const check = () => {
          if (received.length < count) {
            waiters.push(check)
            return
          }
          clearTimeout(timer)
          resolve()
        }
        check()
      })
    },
  }
  result.client.on('retry', (retry) => retries.push(retry.reason))
  result.client.conversation(conversationId, { afterSeq: 0 }).on('message', (message) => {
    received.push(message)
    const pending = waiters
    waiters = []
    for (const wake of pending) wake()
  })
  return result
}

export interface Exchange {
  pair: Pair
  member: Side
  trainer: Side
  close(): Promise<void>
}

export async function startExchange(stack: TestStack, label: string, options: Partial<ChatClientOptions> & { tokenSeconds?: number } = {}, trainerOptions = options): Promise<Exchange> {
  const pair = await createPair(stack.db, label)
  const member = side(stack, pair.member.email, pair.conversationId, options)
  const trainer = side(stack, pair.trainer.email, pair.conversationId, trainerOptions)
  await Promise.all([member.client.connect(), trainer.client.connect()])
  return {
    pair,
    member,
    trainer,
    async close() {
      await member.client.close()
      await trainer.client.close()
    },
  }
}

/**
 * Both sides send `perSide` messages (queued at once, as an app whose user types fast), while
 * `disrupt` runs; resolves with every send's result once both sides have all messages.
 */
export async function exchangeMessages(
  exchange: Exchange,
  perSide: number,
  disrupt: (progress: { acked(): number }) => Promise<void> = async () => {},
): Promise<{ member: Message[]; trainer: Message[] }> {
  const { member, trainer, pair } = exchange
  let acked = 0
  const sendAll = (who: Side, name: string) =>
    Promise.all(
      Array.from({ length: perSide }, (_, i) =>
        who.client.conversation(pair.conversationId).send(`${name} ${i}`).then((message) => {
          acked++
          return message
        }),
      ),
    )
  const total = perSide * 2
  // Bounded, and saying where it stopped: a send that never settles must fail the test, not hang it.
  const describe = () =>
    [member, trainer]
      .map((who, i) => `${i ? 'trainer' : 'member'}: state ${who.client.state}, received ${who.received.length}, dials ${who.net.dials}, closes ${JSON.stringify(who.net.closes.slice(-3))}, retries ${who.retries.length}`)
      .join('; ')
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`exchange stuck after ${acked} acknowledgements: ${describe()}`)), 120_000)
  })
  const [memberSent, trainerSent] = await Promise.race([
    Promise.all([sendAll(member, 'member'), sendAll(trainer, 'trainer'), disrupt({ acked: () => acked })]),
    timeout,
  ]).finally(() => clearTimeout(timer))
  await Promise.all([member.receivedCount(total), trainer.receivedCount(total)])
  return { member: memberSent, trainer: trainerSent }
}

/** Every message stored once, delivered to each side once in seq order, every send resolved with what was stored. */
export async function assertExactlyOnce(stack: TestStack, exchange: Exchange, sent: { member: Message[]; trainer: Message[] }, perSide: number): Promise<void> {
  const rows = await stack.db
    .selectFrom('messages')
    .where('conversation_id', '=', exchange.pair.conversationId)
    .select(['id', 'seq', 'client_message_id', 'body', 'sender_id'])
    .orderBy('seq')
    .execute()
  const total = perSide * 2
  assert.equal(rows.length, total, 'nothing stored twice, nothing lost')
  assert.deepEqual(rows.map((row) => Number(row.seq)), Array.from({ length: total }, (_, i) => i + 1))
  assert.equal(new Set(rows.map((row) => row.client_message_id)).size, total)

  const byId = new Map(rows.map((row) => [row.id, row]))
  for (const [name, messages, senderId] of [
    ['member', sent.member, exchange.pair.member.id],
    ['trainer', sent.trainer, exchange.pair.trainer.id],
  ] as const) {
    assert.equal(messages.length, perSide)
    messages.forEach((message, i) => {
      const row = byId.get(message.id)
      assert.ok(row, `${name}'s send ${i} resolved with a stored message`)
      assert.equal(message.seq, Number(row.seq))
      assert.equal(message.clientMessageId, row.client_message_id)
      assert.equal(message.body, `${name} ${i}`)
      assert.equal(row.sender_id, senderId)
    })
    // One sender's messages are stored in the order they were written.
    assert.deepEqual(messages.map((m) => m.seq), [...messages.map((m) => m.seq)].sort((a, b) => a - b))
  }
  for (const who of [exchange.member, exchange.trainer]) {
    assert.deepEqual(
      who.received.map((message) => message.seq),
      Array.from({ length: total }, (_, i) => i + 1),
      'each message delivered exactly once, in seq order',
    )
    assert.deepEqual(who.received.map((m) => m.id), rows.map((row) => row.id))
  }
}

/** Waits for a condition driven by events elsewhere (polling a cheap predicate), bounded generously: a loaded machine is slow, not wrong. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
