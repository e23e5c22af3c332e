import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { ConversationInbox } from '../helpers/inbox.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'
import { runLoadTest } from '../load/loadtest.ts'

/**
 * Guarantees 2 and 3 of docs/reliability.md through the local stack, and a small run of the load
 * test (all four guarantees at once, checked message by message).
 */

let stack: TestStack

before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

async function joined(email: string, conversationId: string, afterSeq?: number): Promise<TestClient> {
  const client = await stack.connect(email)
  await client.request({ action: 'joinConversation', conversationId, ...(afterSeq === undefined ? {} : { afterSeq }) })
  return client
}

describe('guarantee 3: catching up with joinConversation {afterSeq}', () => {
  let pair: Pair
  before(async () => {
    pair = await createPair(stack.db, 'catch-up')
    const member = await joined(pair.member.email, pair.conversationId)
    for (let n = 1; n <= 25; n++) {
      await member.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `c-${n}`, body: `message ${n}` })
    }
    member.close()
  })

  const page = async (client: TestClient, afterSeq: number, limit?: number) => {
    const history = await client.request({ action: 'joinConversation', conversationId: pair.conversationId, afterSeq, ...(limit ? { limit } : {}) })
    assert.equal(history.type, 'conversationHistory')
    return { seqs: history.messages.map((m: { seq: number }) => m.seq) as number[], hasMore: history.hasMore as boolean }
  }
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

  test('returns exactly the messages after afterSeq, oldest first, in pages with hasMore', async () => {
    const trainer = await stack.connect(pair.trainer.email)

    assert.deepEqual(await page(trainer, 7, 10), { seqs: range(8, 17), hasMore: true })
    assert.deepEqual(await page(trainer, 17, 10), { seqs: range(18, 25), hasMore: false })
    assert.deepEqual(await page(trainer, 15, 10), { seqs: range(16, 25), hasMore: false }, 'a page that ends exactly at the last message')
    assert.deepEqual(await page(trainer, 25, 10), { seqs: [], hasMore: false })
    assert.deepEqual(await page(trainer, 1000), { seqs: [], hasMore: false })
    assert.deepEqual(await page(trainer, 0, 100), { seqs: range(1, 25), hasMore: false })
    trainer.close()
  })

  test('an app that was offline fills exactly the hole it missed, moderated messages included', async () => {
    const trainer = await joined(pair.trainer.email, pair.conversationId)
    trainer.close()
    const member = await joined(pair.member.email, pair.conversationId)
    const missed = []
    for (let n = 1; n <= 3; n++) {
      missed.push((await member.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `offline-${n}`, body: `while away ${n}` })).message)
    }
    await stack.db.updateTable('messages').set({ hidden_at: new Date(), hidden_reason: 'test' }).where('id', '=', missed[1].id).execute()

    const back = await stack.connect(pair.trainer.email)
    const history = await back.request({ action: 'joinConversation', conversationId: pair.conversationId, afterSeq: 25 })

    assert.deepEqual(history.messages.map((m: { id: string }) => m.id), missed.map((m) => m.id))
    assert.deepEqual(history.messages.map((m: { removed: boolean; body: string }) => [m.removed, m.body]), [
      [false, 'while away 1'],
      [true, ''],
      [false, 'while away 3'],
    ])
    assert.equal(history.hasMore, false)
    member.close()
    back.close()
  })
})

describe('guarantee 2: each message once, to the right connections, applied in seq order', () => {
  test('concurrent sends by both participants: every joined connection applies every message once, in seq order', async (t) => {
    const pair = await createPair(stack.db, 'order')
    const outsiders = await createPair(stack.db, 'outsider')
    const member = await joined(pair.member.email, pair.conversationId)
    const trainer = await joined(pair.trainer.email, pair.conversationId)
    const watcher = await joined(pair.member.email, pair.conversationId)
    const strangers = [await joined(outsiders.member.email, outsiders.conversationId), await joined(outsiders.trainer.email, outsiders.conversationId)]
    await stack.ws.idle()
    for (const client of [member, trainer, watcher, ...strangers]) client.frames.length = 0

    let retried = 0
    const ownAcks = new Map<TestClient, Array<{ message: { id: string; seq: number } }>>([[member, []], [trainer, []]])
    const acks = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const sender = i % 2 ? member : trainer
        // 60 sends queue on one conversation row through the local stack's pool of 10 connections; on a
        // loaded machine some wait past the pool's connect timeout and are told `unavailable` with
        // retryAfterMs (nothing stored). An app retries those with the same clientMessageId, so does this.
        let ack = await sender.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `o-${i}`, body: `#${i}` })
        for (let attempt = 1; ack.type === 'error' && ack.code === 'unavailable' && attempt <= 5; attempt++) {
          retried++
          await new Promise((resolve) => setTimeout(resolve, ack.retryAfterMs))
          ack = await sender.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `o-${i}`, body: `#${i}` })
        }
        ownAcks.get(sender)?.push(ack as { message: { id: string; seq: number } })
        return ack
      }),
    )
    await stack.ws.idle()

    assert.deepEqual(acks.filter((ack) => ack.type !== 'newMessage'), [], 'every send is acknowledged with its message')
    t.diagnostic(`${retried} sends were told unavailable (pool busy) and retried`)
    const stored = acks.map((ack) => ack.message).sort((a, b) => a.seq - b.seq)
    assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: 60 }, (_, i) => i + 1), 'seq is gap-free')
    for (const [name, client] of [['member', member], ['trainer', trainer], ['member’s other device', watcher]] as const) {
      const inbox = new ConversationInbox()
      // request() took each acknowledgement out of the sender's frames; put them back, the app sees them too.
      const live = [...(ownAcks.get(client) ?? []), ...client.frames.filter((f) => f.type === 'newMessage')]
      for (const frame of live) inbox.accept(frame.message)
      assert.equal(live.length, 60, `${name}: one frame per message (its own acks included)`)
      assert.equal(inbox.repeats, 0, `${name}: no message twice`)
      assert.deepEqual(inbox.applied.map((m) => m.id), stored.map((m) => m.id), `${name}: all 60, applied in seq order`)
      t.diagnostic(`${name}: ${inbox.arrivedOutOfOrder} of 60 frames arrived after a higher seq (held, then applied in order)`)
    }
    for (const stranger of strangers) {
      const heard = await stranger.quiet(100, (f) => f.type === 'newMessage' || f.conversationId === pair.conversationId)
      assert.deepEqual(heard, [], 'nobody else hears a thing')
    }
    for (const client of [member, trainer, watcher, ...strangers]) client.close()
  })
})

describe('the load test, small', () => {
  test('10 conversations, 20 clients, 5 messages each: nothing lost, duplicated or unexpected, order intact', async (t) => {
    const report = await runLoadTest(stack, { conversations: 10, messagesPerClient: 5, maxGapMs: 50, deadlineMs: 60_000 })

    t.diagnostic(
      `${report.messagesSent} messages, ack p50/p99 ${report.ackLatencyMs.p50}/${report.ackLatencyMs.p99} ms, ` +
        `delivery p50/p99 ${report.deliveryLatencyMs.p50}/${report.deliveryLatencyMs.p99} ms, ` +
        `${report.order.framesArrivedOutOfOrder} frames out of order on the wire`,
    )
    assert.deepEqual(report.problems, [])
    assert.equal(report.stored, 100)
    assert.deepEqual(report.deliveries, { expected: 100, delivered: 100, lost: 0, duplicated: 0, unexpected: 0 })
    assert.equal(report.acks.received, 100)
    assert.equal(report.order.intact, true)
    assert.equal(report.passed, true)
  })
})
