import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import {
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely'
import { createChatStore } from '../../lambdas/adapters/chat-store.ts'
import type { Database } from '../../lambdas/adapters/database-schema.ts'
import type { ChatStore } from '../../lambdas/core/ports.ts'

/**
 * Every composed chat statement rendered to test/sql/<name>.sql, exactly as the store sends it,
 * so reviewers read and diff the SQL that runs. The test fails when a file is stale; run
 * `UPDATE_SQL=1 npm test -- sql-statements` to rewrite them after changing a statement.
 */

const SQL_DIR = join(import.meta.dirname, '..', 'sql')

/** What any of the statements may read from its one row: enough for each method to return without a retry. */
const CANNED_ROW = {
  verdict: 'not_found',
  user_id: null,
  listeners: [],
  messages: [],
  message: null,
  duplicate: null,
  rate_limited: false,
  send_tokens: null,
  bucket_raced: null,
  attachment_verdict: 'none',
  push: null,
  message_found: false,
  marked_count: 0,
  read_at: new Date(0),
  disabled: true,
  registered: false,
  had_room: false,
  offline: [],
  left: [],
}

/** A Kysely whose driver records each compiled statement and answers it with the canned row. */
function recordingDatabase(recorded: CompiledQuery[]): Kysely<Database> {
  const connection: DatabaseConnection = {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      recorded.push(query)
      return { rows: [CANNED_ROW as R] }
    },
    // eslint-disable-next-line require-yield
    async *streamQuery() {
      throw new Error('not used')
    },
  }
  const driver: Driver = {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: async () => {},
    commitTransaction: async () => {},
    rollbackTransaction: async () => {},
    releaseConnection: async () => {},
    destroy: async () => {},
  }
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  })
}

const CONNECTION = 'conn-AbC123='
const CONVERSATION = '11111111-1111-4111-8111-111111111111'
const MESSAGE = '22222222-2222-4222-8222-222222222222'
const ATTACHMENT = '33333333-3333-4333-8333-333333333333'

const STATEMENTS: Record<string, (store: ChatStore) => Promise<unknown>> = {
  connect: (store) =>
    store.connect({
      connectionId: CONNECTION,
      identity: { subject: 'sub-1', email: 'user1@example.com', displayName: 'User One', groups: [] },
      initialRole: 'user',
      tokenExpiresAt: new Date('2026-12-01T11:00:00.000Z'),
      maxConnectionsPerUser: 10,
    }),
  'send-message': (store) =>
    store.sendMessage({ connectionId: CONNECTION, conversationId: CONVERSATION, clientMessageId: 'client-1', body: 'hello' }),
  'send-message-with-attachment': (store) =>
    store.sendMessage({
      connectionId: CONNECTION,
      conversationId: CONVERSATION,
      clientMessageId: 'client-2',
      body: '',
      attachment: { id: ATTACHMENT, object: { contentType: 'image/png', size: 1234 } },
    }),
  typing: (store) => store.typing({ connectionId: CONNECTION, conversationId: CONVERSATION }),
  'mark-as-read': (store) => store.markAsRead({ connectionId: CONNECTION, conversationId: CONVERSATION, messageId: MESSAGE }),
  'join-conversation': (store) => store.joinConversation({ connectionId: CONNECTION, conversationId: CONVERSATION, limit: 50 }),
  'join-conversation-after-seq': (store) =>
    store.joinConversation({ connectionId: CONNECTION, conversationId: CONVERSATION, limit: 50, afterSeq: 7 }),
  'leave-conversation': (store) => store.leaveConversation({ connectionId: CONNECTION, conversationId: CONVERSATION }),
  'send-message-reply': (store) =>
    store.sendMessage({ connectionId: CONNECTION, conversationId: CONVERSATION, clientMessageId: 'client-3', body: 'yes', replyToId: MESSAGE }),
  'edit-message': (store) =>
    store.editMessage({ connectionId: CONNECTION, conversationId: CONVERSATION, messageId: MESSAGE, body: 'edited', editWindowSeconds: 900 }),
  'delete-message': (store) => store.deleteMessage({ connectionId: CONNECTION, conversationId: CONVERSATION, messageId: MESSAGE }),
  react: (store) => store.react({ connectionId: CONNECTION, conversationId: CONVERSATION, messageId: MESSAGE, emoji: '💪', on: true }),
  disconnect: (store) => store.disconnect(CONNECTION),
}

function render(name: string, query: CompiledQuery): string {
  const sql = query.sql
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line, index, lines) => line !== '' || (index > 0 && lines[index - 1] !== ''))
    .join('\n')
    .trim()
  const parameters = query.parameters.map((value, index) => `--   $${index + 1} = ${JSON.stringify(value instanceof Date ? value.toISOString() : value)}`)
  return `-- ${name}: rendered by test/unit/sql-statements.test.ts; do not edit.\n${sql};\n-- parameters:\n${parameters.join('\n')}\n`
}

describe('the chat statements, as sent', () => {
  for (const [name, run] of Object.entries(STATEMENTS)) {
    test(`${name} is one statement, and test/sql/${name}.sql shows it`, async () => {
      const recorded: CompiledQuery[] = []
      await run(createChatStore(recordingDatabase(recorded), { sendRateLimit: { burst: 20, perSecond: 1 }, attachmentUseWithinSeconds: 86400 }))
      assert.equal(recorded.length, 1, 'one round trip')
      const file = join(SQL_DIR, `${name}.sql`)
      const rendered = render(name, recorded[0] as CompiledQuery)
      if (process.env.UPDATE_SQL) await writeFile(file, rendered)
      const committed = await readFile(file, 'utf8').catch(() => '')
      assert.ok(committed === rendered, `test/sql/${name}.sql is stale: run UPDATE_SQL=1 npm test -- sql-statements`)
    })
  }

  // A hot statement may be a call of a function whose body a migration holds (the plan is then
  // cached by the backend, without a prepared statement: migration 0014). Its SQL is read there.
  test('every function a statement calls is created by a migration, where its body is read', async () => {
    const migrationsDir = join(import.meta.dirname, '..', '..', 'migrations')
    const migrations = await Promise.all(
      (await readdir(migrationsDir)).filter((file) => /^\d{4}_.*\.ts$/.test(file)).map((file) => readFile(join(migrationsDir, file), 'utf8')),
    )
    const called = new Set<string>()
    for (const file of (await readdir(SQL_DIR)).filter((file) => file.endsWith('.sql'))) {
      for (const match of (await readFile(join(SQL_DIR, file), 'utf8')).matchAll(/\b(trainer_chat_\w+)\(/g)) called.add(match[1] as string)
    }
    assert.ok(called.has('trainer_chat_send_message'), 'the send statement calls its function')
    for (const name of called) {
      assert.ok(
        migrations.some((source) => new RegExp(`CREATE (OR REPLACE )?FUNCTION ${name}\\(`).test(source)),
        `${name} is created by a migration`,
      )
    }
  })
})
