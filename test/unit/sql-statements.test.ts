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
  type RawBuilder,
} from 'kysely'
import { createChatStore } from '../../lambdas/adapters/chat-store.ts'
import type { Database } from '../../lambdas/adapters/database-schema.ts'
import { liveConnection, MAX_CONNECTION_SECONDS, messageJson, participantAccess, presenceAudiences } from '../../lambdas/adapters/sql-fragments.ts'
import { knownUser } from '../../lambdas/adapters/users-upsert.ts'
import { migrations } from '../../migrations/index.ts'
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
  // cached by the backend, without a prepared statement: migrations 0014 and 0015). Its SQL is read
  // there: each migration's `up`, run on the recording database, shows what it creates.
  test('every function a statement calls is created by a migration, where its body is read', async () => {
    const created = await createdFunctions()
    const called = new Set<string>()
    for (const file of (await readdir(SQL_DIR)).filter((file) => file.endsWith('.sql'))) {
      const calls = [...(await readFile(join(SQL_DIR, file), 'utf8')).matchAll(/\b(trainer_chat_\w+)\(/g)].map((match) => match[1] as string)
      // Every WebSocket statement is such a call now: none is planned per call (bench/README.md, issue 12 item 1).
      assert.ok(calls.length > 0, `${file} calls its function`)
      for (const name of calls) called.add(name)
    }
    assert.ok(called.has('trainer_chat_send_message'), 'the send statement calls its function')
    for (const name of called) assert.ok(created.has(name), `${name} is created by a migration`)
  })

  // The function bodies are frozen copies of rules the REST statements still compose from
  // sql-fragments.ts and users-upsert.ts. Each copy must read as the fragment renders today (with
  // the function's parameter names for the fragment's parameters), so a rule changed in lambdas/
  // without a migration that replaces the functions fails here.
  describe('the functions hold the rules the REST statements compose, as they read today', async () => {
    const created = await createdFunctions()
    const identity = { subject: '@subject', email: '@email', displayName: '@displayName', groups: [] }
    const parameterNames = new Map<unknown, string>([
      ['@conversation', 'p_conversation_id'],
      ['@subject', 'p_subject'],
      ['@email', 'p_email'],
      ['@displayName', 'p_display_name'],
      ['@role', 'p_role'],
      [MAX_CONNECTION_SECONDS, 'p_max_connection_seconds'],
    ])
    const rules: Array<[rule: string, fragment: RawBuilder<unknown>, functions: string[], excluded?: string]> = [
      ['the participant rule', participantAccess('@conversation'), [
        'trainer_chat_send_message', 'trainer_chat_typing', 'trainer_chat_mark_as_read', 'trainer_chat_join_conversation',
        'trainer_chat_leave_conversation', 'trainer_chat_edit_message', 'trainer_chat_delete_message', 'trainer_chat_react',
      ]],
      ['the message JSON', messageJson('s'), ['trainer_chat_send_message']],
      ['the message JSON', messageJson('p'), ['trainer_chat_join_conversation']],
      ['the message JSON', messageJson('u'), ['trainer_chat_edit_message']],
      ['the users upsert', knownUser(identity, '@role' as never), ['trainer_chat_connect']],
      ['presence audiences', presenceAudiences('me'), ['trainer_chat_connect'], "'{}'"],
      ['presence audiences', presenceAudiences('u', ['@ids']), ['trainer_chat_forget_connections'], 'p_connection_ids'],
      ['a live connection', liveConnection('k'), ['trainer_chat_connect', 'trainer_chat_forget_connections']],
    ]
    for (const [rule, fragment, functions, excluded] of rules) {
      for (const name of functions) {
        test(`${name} holds ${rule} as sql-fragments.ts or users-upsert.ts renders it`, () => {
          const compiled = fragment.compile(recordingDatabase([]))
          const names = new Map(parameterNames)
          if (excluded) names.set(JSON.stringify(compiled.parameters.find(Array.isArray)), excluded)
          const text = compiled.sql.replace(/\$(\d+)/g, (_, index: string) => {
            const value = compiled.parameters[Number(index) - 1]
            const name = names.get(Array.isArray(value) ? JSON.stringify(value) : value)
            assert.ok(name, `a function parameter for ${JSON.stringify(value)}`)
            return name
          })
          const body = created.get(name)
          assert.ok(body, `${name} is created`)
          assert.ok(normalized(body).includes(normalized(text)), `${name}'s body no longer holds ${rule}: replace the function in a new migration`)
        })
      }
    }
  })
})

/** Each trainer_chat_ function the migrations create, with its latest definition, from running every `up` on the recording database. */
async function createdFunctions(): Promise<Map<string, string>> {
  const recorded: CompiledQuery[] = []
  const db = recordingDatabase(recorded)
  for (const name of Object.keys(migrations).sort()) await migrations[name]?.up(db)
  const created = new Map<string, string>()
  for (const { sql } of recorded) {
    const match = /CREATE (?:OR REPLACE )?FUNCTION (trainer_chat_\w+)\(/.exec(sql)
    if (match) created.set(match[1] as string, sql)
  }
  return created
}

/** SQL with its comments, identifier quotes and layout removed, to compare what two texts say. */
function normalized(text: string): string {
  return text
    .replace(/--[^\n]*/g, '')
    .replace(/"(\w+)"/g, '$1')
    .replace(/\s+/g, ' ')
    .replace(/\( /g, '(')
    .replace(/ \)/g, ')')
    .trim()
}
