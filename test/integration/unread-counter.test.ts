import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql, type Kysely } from 'kysely'
import { migrateTo, migrateToLatest } from '../../lambdas/adapters/migrator.ts'
import type { Database } from '../../lambdas/adapters/database-schema.ts'
import { seedDemoData } from '../../local/seed.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts'

/**
 * The unread counters of migration 0012 (issue #12 item 3): the push badge reads them instead of
 * counting the backlog. After the backfill and after every kind of statement that writes messages,
 * each user's counter equals a recount with the predicate the badge used before.
 */

let database: TestDatabase
let db: Kysely<Database>
let conversationId: string
let memberId: string
let trainerId: string

/** Every user's unread messages, counted from the rows, users with none left out. */
async function recount(): Promise<Record<string, number>> {
  const { rows } = await sql<{ user_id: string; unread: number }>`
    SELECT p.user_id, count(*)::int AS unread
    FROM messages m
    JOIN conversations cv ON cv.id = m.conversation_id
    CROSS JOIN LATERAL (VALUES (cv.member_id), (cv.trainer_id)) p (user_id)
    WHERE p.user_id <> m.sender_id AND m.read_at IS NULL AND m.hidden_at IS NULL
    GROUP BY p.user_id`.execute(db)
  return Object.fromEntries(rows.map((row) => [row.user_id, row.unread]))
}

/** The counters, users at zero left out (a counter row may stay behind at 0). */
async function counters(): Promise<Record<string, number>> {
  const rows = await db.selectFrom('unread_counters').select(['user_id', 'unread']).where('unread', '<>', 0).execute()
  return Object.fromEntries(rows.map((row) => [row.user_id, row.unread]))
}

/** Stores `count` messages of `senderId` in one statement, read already when `read`. */
async function insertMessages(senderId: string, count: number, read = false) {
  await sql`
    WITH bumped AS (
      UPDATE conversations SET last_seq = last_seq + ${count}::int WHERE id = ${conversationId} RETURNING last_seq
    )
    INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, read_at)
    SELECT ${conversationId}, b.last_seq - ${count}::int + s, ${senderId}, 'hello', gen_random_uuid()::text,
      CASE WHEN ${read}::boolean THEN now() END
    FROM bumped b, generate_series(1, ${count}::int) s`.execute(db)
}

before(async () => {
  database = await createTestDatabase({ migrate: false })
  db = database.db
  await migrateTo(db, '0006_message_state')
  await seedDemoData(db)
  const conversation = await db.selectFrom('conversations').selectAll().orderBy('created_at').executeTakeFirstOrThrow()
  conversationId = conversation.id
  memberId = conversation.member_id
  trainerId = conversation.trainer_id
})
after(() => database.close())

describe('unread counters', () => {
  test('the migration backfills every user’s count', async () => {
    await insertMessages(memberId, 5)
    await insertMessages(trainerId, 3)
    await insertMessages(memberId, 2, true)
    await sql`UPDATE messages SET hidden_at = now() WHERE conversation_id = ${conversationId} AND seq = 1`.execute(db)

    await migrateToLatest(db)

    const expected = await recount()
    assert.deepEqual(expected, { [trainerId]: 4, [memberId]: 3 })
    assert.deepEqual(await counters(), expected)
  })

  test('inserting messages counts them for the other participant only', async () => {
    await insertMessages(memberId, 4)
    await insertMessages(trainerId, 1)
    assert.deepEqual(await counters(), await recount())
    assert.equal((await counters())[trainerId], 8)
  })

  test('marking a backlog read takes it off in one statement', async () => {
    await sql`UPDATE messages SET read_at = now() WHERE conversation_id = ${conversationId} AND sender_id = ${memberId} AND read_at IS NULL`.execute(db)
    assert.deepEqual(await counters(), await recount())
    assert.equal((await counters())[trainerId], undefined)
  })

  test('hiding and unhiding a message moves the count both ways', async () => {
    const unreadOfTrainer = await db
      .selectFrom('messages')
      .select('id')
      .where('conversation_id', '=', conversationId)
      .where('sender_id', '=', trainerId)
      .where('read_at', 'is', null)
      .where('hidden_at', 'is', null)
      .executeTakeFirstOrThrow()
    const before = (await counters())[memberId] ?? 0

    await sql`UPDATE messages SET hidden_at = now() WHERE id = ${unreadOfTrainer.id}`.execute(db)
    assert.equal((await counters())[memberId] ?? 0, before - 1)
    assert.deepEqual(await counters(), await recount())

    await sql`UPDATE messages SET hidden_at = NULL WHERE id = ${unreadOfTrainer.id}`.execute(db)
    assert.equal((await counters())[memberId] ?? 0, before)
    assert.deepEqual(await counters(), await recount())
  })

  test('an update that changes no read state, and one that changes nothing, leave the counters alone', async () => {
    const before = await counters()
    await sql`UPDATE messages SET edited_at = now(), body = 'edited' WHERE conversation_id = ${conversationId}`.execute(db)
    await sql`UPDATE messages SET read_at = now() WHERE false`.execute(db)
    assert.deepEqual(await counters(), before)
  })

  test('deleting messages takes their unread ones off', async () => {
    await sql`DELETE FROM messages WHERE conversation_id = ${conversationId} AND sender_id = ${trainerId} AND read_at IS NULL`.execute(db)
    assert.deepEqual(await counters(), await recount())
  })
})
