import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { after, before, describe, test } from 'node:test'
import { createPair } from '../helpers/fixtures.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * #11 items 2 and 13 through the local stack: stale connection rows never lock a user out, and
 * typing, join/leave and markAsRead are limited per user (every connection together), inside the
 * statement each action runs. Limits are set low before the stack starts; refills are one token
 * per 1000 s, so no token comes back on its own during a test.
 */
Object.assign(process.env, {
  MAX_CONNECTIONS_PER_USER: '2',
  TYPING_BURST: '3',
  TYPING_PER_SECOND: '0.001',
  JOIN_BURST: '3',
  JOIN_PER_SECOND: '0.001',
  MARK_AS_READ_BURST: '2',
  MARK_AS_READ_PER_SECOND: '0.001',
})

let stack: TestStack

before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

async function open(email: string): Promise<{ client: TestClient; connectionId: string }> {
  const client = await stack.connect(email)
  return { client, connectionId: stack.ws.connectionIds().at(-1) as string }
}

async function connectionRows(userId: string) {
  return stack.db.selectFrom('connections').where('user_id', '=', userId).selectAll().orderBy('connection_id').execute()
}

/** The statements the handlers ran while `run` ran. */
async function statementsOf(run: () => Promise<unknown>): Promise<string[]> {
  await stack.ws.idle()
  const from = stack.statements.length
  await run()
  await stack.ws.idle()
  return stack.statements.slice(from)
}

describe('stale connections never lock a user out (#11 item 2)', () => {
  test('connections whose $disconnect was lost are checked with GetConnection and reclaimed, again and again', async () => {
    const pair = await createPair(stack.db, 'stale-lost')
    for (let round = 1; round <= 3; round++) {
      const first = await open(pair.member.email)
      const second = await open(pair.member.email)
      stack.ws.dropWithoutDisconnect(first.connectionId)
      stack.ws.dropWithoutDisconnect(second.connectionId)
      assert.equal((await connectionRows(pair.member.id)).length, 2, 'the rows stay: API Gateway lost both $disconnects')

      const next = await open(pair.member.email)

      const reply = await next.client.request({ action: 'joinConversation', conversationId: pair.conversationId })
      assert.equal(reply.type, 'conversationHistory', `round ${round}`)
      assert.deepEqual((await connectionRows(pair.member.id)).map((row) => row.connection_id), [next.connectionId])
      next.client.close()
      await next.client.waitForClose()
      await stack.ws.idle()
    }
  })

  test('repeated crashes of the local stack never lock the user out: it clears the connections it cannot have', async () => {
    const pair = await createPair(stack.db, 'stale-crash')
    for (let round = 1; round <= 3; round++) {
      const first = await open(pair.member.email)
      const second = await open(pair.member.email)
      // A crash: no socket survives and no $disconnect runs.
      stack.ws.dropWithoutDisconnect(first.connectionId)
      stack.ws.dropWithoutDisconnect(second.connectionId)
      await stack.restart()
      assert.deepEqual(await connectionRows(pair.member.id), [], `round ${round}: cleared at start-up`)

      const next = await open(pair.member.email)
      const reply = await next.client.request({ action: 'joinConversation', conversationId: pair.conversationId })
      assert.equal(reply.type, 'conversationHistory', `round ${round}`)
      stack.ws.dropWithoutDisconnect(next.connectionId)
    }
  })

  test('a row older than API Gateway’s 2-hour maximum holds no slot, without asking API Gateway', async () => {
    const pair = await createPair(stack.db, 'stale-old')
    const first = await open(pair.member.email)
    const second = await open(pair.member.email)
    // Both sockets are live (GetConnection would answer 200); their rows say they are 3 hours old.
    await sql`UPDATE connections SET connected_at = now() - interval '3 hours' WHERE user_id = ${pair.member.id}`.execute(stack.db)

    const third = await open(pair.member.email)

    const rows = await connectionRows(pair.member.id)
    assert.ok(rows.some((row) => row.connection_id === third.connectionId))
    assert.equal(rows.length, 2, 'the new connection took over the slot of one of them')
    for (const client of [first.client, second.client, third.client]) client.close()
  })

  test('a user at the limit with live connections is still refused with 429, and nothing changes', async () => {
    const pair = await createPair(stack.db, 'stale-live')
    const first = await open(pair.member.email)
    const second = await open(pair.member.email)
    const before = await connectionRows(pair.member.id)

    await assert.rejects(stack.connect(pair.member.email), (error: { status?: number }) => error.status === 429)

    assert.deepEqual(await connectionRows(pair.member.id), before)
    first.client.close()
    second.client.close()
  })
})

describe('typing, join, leave and markAsRead are limited per user (#11 item 13)', () => {
  test('typing from two connections shares one bucket: the excess is dropped, each request still gets ok', async () => {
    const pair = await createPair(stack.db, 'limit-typing')
    const trainer = await open(pair.trainer.email)
    await trainer.client.request({ action: 'joinConversation', conversationId: pair.conversationId })
    const phone = await open(pair.member.email)
    const laptop = await open(pair.member.email)

    const replies = []
    for (let i = 0; i < 3; i++) {
      for (const device of [phone, laptop]) {
        replies.push(await device.client.request({ action: 'typing', conversationId: pair.conversationId, isTyping: true }))
      }
    }
    // A later frame to the trainer: the relays of the typing frames were posted before it.
    await phone.client.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: 'after-typing', body: 'hi' })
    await trainer.client.nextOfType('newMessage')

    assert.deepEqual(replies.map((reply) => reply.type), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'])
    assert.equal(trainer.client.frames.filter((f) => f.type === 'userTyping').length, 3, 'the burst of 3, not 3 per connection')
    for (const client of [trainer.client, phone.client, laptop.client]) client.close()
  })

  test('join and leave share a bucket across connections; the excess is rate_limited and changes nothing', async () => {
    const pair = await createPair(stack.db, 'limit-join')
    const trainer = await open(pair.trainer.email)
    await trainer.client.request({ action: 'joinConversation', conversationId: pair.conversationId })
    const phone = await open(pair.member.email)
    const laptop = await open(pair.member.email)
    const { conversationId } = pair

    assert.equal((await phone.client.request({ action: 'joinConversation', conversationId })).type, 'conversationHistory')
    assert.equal((await laptop.client.request({ action: 'joinConversation', conversationId })).type, 'conversationHistory')
    assert.equal((await laptop.client.request({ action: 'leaveConversation', conversationId })).type, 'ok')
    await trainer.client.nextOfType('userJoined')
    await trainer.client.nextOfType('userJoined')
    await trainer.client.nextOfType('userLeft')
    const rowsBefore = await connectionRows(pair.member.id)

    let join!: Awaited<ReturnType<TestClient['request']>>
    const joinStatements = await statementsOf(async () => {
      join = await laptop.client.request({ action: 'joinConversation', conversationId })
    })
    const leave = await phone.client.request({ action: 'leaveConversation', conversationId })

    for (const refused of [join, leave]) {
      assert.equal(refused.type, 'error')
      assert.equal(refused.code, 'rate_limited')
      assert.ok(Number(refused.details?.retryAfterMs) > 0)
    }
    assert.equal(joinStatements.length, 1, 'a refused join is still one statement, and it reads no history')
    assert.deepEqual(await connectionRows(pair.member.id), rowsBefore, 'the phone stays joined, the laptop stays out')
    // A later frame to the trainer: a userJoined or userLeft for the refused requests would have come first.
    await phone.client.request({ action: 'sendMessage', conversationId, clientMessageId: 'after-joins', body: 'hi' })
    await trainer.client.nextOfType('newMessage')
    assert.deepEqual(trainer.client.frames.filter((f) => f.type === 'userJoined' || f.type === 'userLeft'), [])
    for (const client of [trainer.client, phone.client, laptop.client]) client.close()
  })

  test('markAsRead beyond the burst is rate_limited and marks nothing', async () => {
    const pair = await createPair(stack.db, 'limit-read')
    const trainer = await open(pair.trainer.email)
    const member = await open(pair.member.email)
    const { conversationId } = pair
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      ids.push((await trainer.client.request({ action: 'sendMessage', conversationId, clientMessageId: `read-${i}`, body: `m${i}` })).message.id)
    }
    const [first, second, third] = ids as [string, string, string]

    assert.equal((await member.client.request({ action: 'markAsRead', conversationId, messageId: first })).type, 'ok')
    assert.equal((await member.client.request({ action: 'markAsRead', conversationId, messageId: second })).type, 'ok')
    const unreadBefore = await stack.db.selectFrom('messages').where('id', '=', third).select('read_at').executeTakeFirstOrThrow()
    let refused!: Awaited<ReturnType<TestClient['request']>>
    const statements = await statementsOf(async () => {
      refused = await member.client.request({ action: 'markAsRead', conversationId, messageId: third })
    })

    assert.equal(refused.type, 'error')
    assert.equal(refused.code, 'rate_limited')
    assert.ok(Number(refused.details?.retryAfterMs) > 0)
    assert.equal(statements.length, 1)
    const unreadAfter = await stack.db.selectFrom('messages').where('id', '=', third).select('read_at').executeTakeFirstOrThrow()
    assert.deepEqual(unreadAfter, unreadBefore)
    assert.equal(unreadAfter.read_at, null)
    trainer.client.close()
    member.client.close()
  })

  test('a refused caller (not a participant) spends nothing of their bucket', async () => {
    const pair = await createPair(stack.db, 'limit-refused')
    const stranger = await createPair(stack.db, 'limit-stranger')
    const member = await open(pair.member.email)
    for (let i = 0; i < 5; i++) {
      const refused = await member.client.request({ action: 'joinConversation', conversationId: stranger.conversationId })
      assert.equal(refused.code, 'forbidden')
    }
    const rows = await stack.db.selectFrom('user_limits').where('user_id', '=', pair.member.id).selectAll().execute()
    assert.deepEqual(rows, [])
    assert.equal((await member.client.request({ action: 'joinConversation', conversationId: pair.conversationId })).type, 'conversationHistory')
    member.client.close()
  })
})
