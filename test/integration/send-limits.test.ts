import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createChatStore } from '../../lambdas/adapters/chat-store.ts'
import type { ChatStore, SendMessageResult } from '../../lambdas/core/ports.ts'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts'

/**
 * The per-user send bucket and the per-user connection slots, in the store's own statements on a
 * real database (PGlite, or the server in DATABASE_URL, where concurrent statements really race).
 */

let database: TestDatabase

before(async () => {
  database = await createTestDatabase()
})
after(() => database.close())

/** A connection for `userSubject` registered through the store's own $connect statement. */
async function connection(store: ChatStore, who: { subject: string; email: string }, maxConnectionsPerUser = 10): Promise<string> {
  const connectionId = randomUUID()
  const result = await store.connect({
    connectionId,
    identity: { subject: who.subject, email: who.email, displayName: who.email, groups: [] },
    initialRole: 'user',
    tokenExpiresAt: new Date(Date.now() + 3600_000),
    maxConnectionsPerUser,
  })
  assert.equal(result.outcome, 'connected')
  return connectionId
}

const send = (store: ChatStore, connectionId: string, conversationId: string, clientMessageId: string = randomUUID()) =>
  store.sendMessage({ connectionId, conversationId, clientMessageId, body: 'hello' })

async function lastSeq(conversationId: string): Promise<number> {
  const row = await database.db.selectFrom('conversations').where('id', '=', conversationId).select('last_seq').executeTakeFirstOrThrow()
  return row.last_seq
}

async function bucketOf(userId: string): Promise<number | null> {
  const row = await database.db.selectFrom('users').where('id', '=', userId).select('send_tokens').executeTakeFirstOrThrow()
  return row.send_tokens === null ? null : Number(row.send_tokens)
}

const stored = (result: SendMessageResult) => result.retryAfterMs === undefined && result.message !== null

describe('the send token bucket', () => {
  test('a burst spends it; the next send is refused with the time to one token, and nothing is stored', async () => {
    const store = createChatStore(database.db, { sendRateLimit: { burst: 3, perSecond: 0.001 } })
    const pair = await createPair(database.db, 'burst')
    const member = await connection(store, pair.member)

    for (let i = 0; i < 3; i++) assert.ok(stored(await send(store, member, pair.conversationId)))
    const seqBefore = await lastSeq(pair.conversationId)
    const refused = await send(store, member, pair.conversationId)

    assert.equal(refused.verdict, 'ok')
    assert.equal(refused.message, null)
    // One token takes 1000 s at 0.001 per second; a few ms have refilled a sliver of it.
    assert.ok(refused.retryAfterMs !== undefined && refused.retryAfterMs > 990_000 && refused.retryAfterMs <= 1_000_000, String(refused.retryAfterMs))
    assert.equal(await lastSeq(pair.conversationId), seqBefore, 'no seq was used')
  })

  test('it refills with time, up to the burst', async () => {
    // Slow refill, so four sends on a loaded machine cannot earn a token back meanwhile.
    const store = createChatStore(database.db, { sendRateLimit: { burst: 3, perSecond: 0.2 } })
    const pair = await createPair(database.db, 'refill')
    const member = await connection(store, pair.member)
    // An empty bucket last touched 60 s ago: 12 tokens' worth of time, capped at the burst of 3.
    await database.db
      .updateTable('users')
      .set({ send_tokens: 0, send_tokens_at: sql<Date>`now() - interval '60 seconds'` })
      .where('id', '=', pair.member.id)
      .execute()

    const results = []
    for (let i = 0; i < 4; i++) results.push(await send(store, member, pair.conversationId))

    assert.deepEqual(results.map(stored), [true, true, true, false])
  })

  test('retries of a stored message and refused sends spend nothing', async () => {
    const store = createChatStore(database.db, { sendRateLimit: { burst: 2, perSecond: 0.001 } })
    const pair = await createPair(database.db, 'free')
    const elsewhere = await createPair(database.db, 'elsewhere')
    const closed = await database.db
      .insertInto('conversations')
      .values({ member_id: pair.member.id, trainer_id: pair.trainer.id, status: 'closed', closed_at: new Date(), closed_reason: 'test' })
      .returning('id')
      .executeTakeFirstOrThrow()
    const member = await connection(store, pair.member)

    const first = await send(store, member, pair.conversationId, 'same')
    const tokensAfterFirst = await bucketOf(pair.member.id)
    for (let i = 0; i < 3; i++) {
      const retry = await send(store, member, pair.conversationId, 'same')
      assert.equal(retry.duplicate, true)
      assert.equal(retry.message?.id, first.message?.id)
    }
    assert.equal((await send(store, member, elsewhere.conversationId)).verdict, 'forbidden')
    assert.equal((await send(store, member, randomUUID())).verdict, 'not_found')
    assert.equal((await send(store, member, closed.id)).verdict, 'closed')
    assert.equal(await bucketOf(pair.member.id), tokensAfterFirst, 'the bucket is untouched')

    assert.ok(stored(await send(store, member, pair.conversationId)), 'the second token is still there')
    assert.ok(!stored(await send(store, member, pair.conversationId)))
  })

  test('concurrent sends by one user on many connections: exactly the burst gets through', async () => {
    const store = createChatStore(database.db, { sendRateLimit: { burst: 10, perSecond: 0.001 } })
    const pair = await createPair(database.db, 'concurrent')
    const connections = await Promise.all(Array.from({ length: 5 }, () => connection(store, pair.member)))
    const seqBefore = await lastSeq(pair.conversationId)

    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => send(store, connections[i % 5] as string, pair.conversationId)))

    assert.equal(results.filter(stored).length, 10)
    assert.equal(results.filter((r) => r.retryAfterMs !== undefined).length, 20)
    assert.equal(await lastSeq(pair.conversationId), seqBefore + 10, 'seq stays gap-free')
  })

  test('twenty copies of one clientMessageId on a nearly empty bucket: one stored, every copy answered with it', async () => {
    const store = createChatStore(database.db, { sendRateLimit: { burst: 1, perSecond: 0.001 } })
    const pair = await createPair(database.db, 'copies')
    const connections = await Promise.all(Array.from({ length: 4 }, () => connection(store, pair.member)))

    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => send(store, connections[i % 4] as string, pair.conversationId, 'copy')))

    const ids = new Set(results.map((r) => r.message?.id))
    assert.equal(ids.size, 1)
    assert.ok(!ids.has(undefined), `a copy was refused: ${JSON.stringify(results.find((r) => !r.message))}`)
    assert.equal(results.filter((r) => !r.duplicate).length, 1)
  })
})

describe('connection slots', () => {
  test('at most N live connections; a disconnect frees its slot; an expired connection’s slot is taken over', async () => {
    const store = createChatStore(database.db)
    const pair: Pair = await createPair(database.db, 'slots')
    const connect = (connectionId: string = randomUUID()) =>
      store.connect({
        connectionId,
        identity: { subject: pair.member.subject, email: pair.member.email, displayName: 'x', groups: [] },
        initialRole: 'user',
        tokenExpiresAt: new Date(Date.now() + 3600_000),
        maxConnectionsPerUser: 3,
      })
    const ids = [randomUUID(), randomUUID(), randomUUID()]
    for (const id of ids) assert.equal((await connect(id)).outcome, 'connected')

    assert.equal((await connect()).outcome, 'too_many_connections')
    await store.disconnect(ids[1] as string)
    assert.equal((await connect()).outcome, 'connected')
    assert.equal((await connect()).outcome, 'too_many_connections')
    const expired = await database.db
      .updateTable('connections')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('connection_id', '=', ids[0] as string)
      .returning('slot')
      .executeTakeFirstOrThrow()
    assert.equal((await connect('taker')).outcome, 'connected')

    const rows = await database.db.selectFrom('connections').where('user_id', '=', pair.member.id).select(['connection_id', 'slot']).orderBy('slot').execute()
    assert.deepEqual(rows.map((r) => r.slot), [1, 2, 3])
    assert.equal(rows.find((r) => r.slot === expired.slot)?.connection_id, 'taker', 'the expired connection’s slot was taken over')
  })

  test('twenty concurrent connects with room for five: exactly five get in', async () => {
    const store = createChatStore(database.db)
    const pair = await createPair(database.db, 'connect-race')

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.connect({
          connectionId: randomUUID(),
          identity: { subject: pair.member.subject, email: pair.member.email, displayName: 'x', groups: [] },
          initialRole: 'user',
          tokenExpiresAt: new Date(Date.now() + 3600_000),
          maxConnectionsPerUser: 5,
        }),
      ),
    )

    assert.equal(outcomes.filter((o) => o.outcome === 'connected').length, 5)
    assert.equal(outcomes.filter((o) => o.outcome === 'too_many_connections').length, 15)
  })
})
