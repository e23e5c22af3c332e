import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { after, before, describe, test } from 'node:test'
import { migrateTo, migrateToLatest } from '../../lambdas/adapters/migrator.ts'
import { migrations } from '../../migrations/index.ts'
import { seedDemoData } from '../../local/seed.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts'

const names = Object.keys(migrations).sort()

test('migrations are numbered in order with no gaps', () => {
  names.forEach((name, index) => assert.match(name, new RegExp(`^${String(index + 1).padStart(4, '0')}_`)))
})

test('all migrations apply forward on an empty database, and again is a no-op', async () => {
  const database = await createTestDatabase({ migrate: false })
  try {
    assert.deepEqual(await migrateToLatest(database.db), names)
    assert.deepEqual(await migrateToLatest(database.db), [])
    const tables = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`.execute(database.db)
    for (const table of ['users', 'conversations', 'messages', 'connections']) {
      assert.ok(tables.rows.some((row) => row.table_name === table), table)
    }
  } finally {
    await database.close()
  }
})

for (const previous of names.slice(0, -1)) {
  test(`upgrading a database with data from ${previous} to the latest keeps the data`, async () => {
    const database = await createTestDatabase({ migrate: false })
    try {
      await migrateTo(database.db, previous)
      // The seed writes only columns that exist since 0001, so it runs on every earlier version.
      await seedDemoData(database.db)
      const before = await sql<{ users: number; conversations: number }>`
        SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM conversations)::int AS conversations`.execute(database.db)

      await migrateToLatest(database.db)

      const after = await sql<{ users: number; conversations: number }>`
        SELECT (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM conversations)::int AS conversations`.execute(database.db)
      assert.deepEqual(after.rows, before.rows)
    } finally {
      await database.close()
    }
  })
}

// These read or change a migrated database and leave it migrated to the latest: one database
// serves them all (opening one costs seconds on PGlite; issue 12 item 9).
describe('on one migrated database', () => {
  let database: TestDatabase
  before(async () => {
    database = await createTestDatabase()
  })
  after(async () => {
    await database.close()
  })

  test('the schema enforces one open conversation per member and trainer', async () => {
    await seedDemoData(database.db)
    const existing = await database.db.selectFrom('conversations').select(['member_id', 'trainer_id']).executeTakeFirstOrThrow()
    await assert.rejects(
      database.db.insertInto('conversations').values({ member_id: existing.member_id, trainer_id: existing.trainer_id }).execute(),
      /conversations_one_open_per_pair|duplicate key/,
    )
  })

  test('the migrated database turns JIT off for its new sessions (0013: search plans are not JIT-compiled)', async () => {
    const { rows } = await sql<{ setconfig: string[] | null }>`
      SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
      WHERE d.datname = current_database() AND s.setrole = 0`.execute(database.db)
    assert.ok(rows.some((row) => row.setconfig?.includes('jit=off')), JSON.stringify(rows))
  })

  test('0014 creates the send statement function with a generic plan cached per backend, and its down drops it', async () => {
    const settings = () =>
      sql<{ proconfig: string[] | null }>`
        SELECT p.proconfig FROM pg_proc p WHERE p.proname = 'trainer_chat_send_message'`.execute(database.db)
    const { rows } = await settings()
    // force_generic_plan: the first calls of each backend are not planned with their values either.
    assert.deepEqual(rows, [{ proconfig: ['plan_cache_mode=force_generic_plan'] }])
    await migrateTo(database.db, '0013_search_without_jit')
    assert.deepEqual((await settings()).rows, [])
    await migrateToLatest(database.db)
    assert.equal((await settings()).rows.length, 1)
  })

  test('0016 replaces the send function with one in steps, and its down restores 0014\'s one statement', async () => {
    const body = async () =>
      (await sql<{ src: string }>`SELECT p.prosrc AS src FROM pg_proc p WHERE p.proname = 'trainer_chat_send_message'`.execute(database.db)).rows[0]?.src ?? ''
    assert.match(await body(), /-- 4\. The push target/)
    await migrateTo(database.db, '0015_websocket_statement_functions')
    const restored = await body()
    assert.doesNotMatch(restored, /-- 4\. The push target/)
    assert.match(restored, /RETURN QUERY/)
    await migrateToLatest(database.db)
    assert.match(await body(), /-- 4\. The push target/)
  })

  test('0015 creates the other WebSocket statement functions with a generic plan cached per backend, and its down drops them', async () => {
    const functions = () =>
      sql<{ proname: string; proconfig: string[] | null }>`
        SELECT p.proname, p.proconfig FROM pg_proc p
        WHERE p.proname LIKE 'trainer\_chat\_%' AND p.proname NOT IN ('trainer_chat_send_message', 'trainer_chat_refuse_disabled')
        ORDER BY p.proname`.execute(database.db)
    const names = [
      'trainer_chat_connect', 'trainer_chat_delete_message', 'trainer_chat_edit_message', 'trainer_chat_forget_connections',
      'trainer_chat_join_conversation', 'trainer_chat_leave_conversation', 'trainer_chat_mark_as_read', 'trainer_chat_react', 'trainer_chat_typing',
    ]
    const { rows } = await functions()
    assert.deepEqual(rows, names.map((proname) => ({ proname, proconfig: ['plan_cache_mode=force_generic_plan'] })))
    await migrateTo(database.db, '0014_hot_statement_functions')
    assert.deepEqual((await functions()).rows, [])
    await migrateToLatest(database.db)
    assert.deepEqual((await functions()).rows.map((row) => row.proname), names)
  })
})
