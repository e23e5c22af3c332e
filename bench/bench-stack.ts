import { sql, type Kysely } from 'kysely'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { startLocalStack, type LocalStack } from '../local/stack.ts'
import { createServerDatabase } from '../test/helpers/database.ts'
import { copyTemplate } from '../test/helpers/pglite-template.ts'

/**
 * The local stack on free loopback ports, on embedded PGlite (a temporary DATA_DIR) or on a
 * fresh database of the server in DATABASE_URL, with every statement the handlers send
 * counted, and helpers to create the bench's users and conversations directly in the database.
 */

export interface BenchUser {
  id: string
  subject: string
  email: string
  name: string
  groups: string[]
}

export interface Pair {
  member: BenchUser
  trainer: BenchUser
  conversationId: string
}

export interface BenchStack {
  stack: LocalStack
  /** Statements sent through the handlers' Kysely instance since the start. */
  statements(): number
  /** Lines the gateways logged (handler failures and the like). */
  gatewayLog: string[]
  /** `count` new member-trainer pairs, each member assigned to its trainer, each with an open conversation. */
  createPairs(prefix: string, count: number): Promise<Pair[]>
  token(user: BenchUser): Promise<string>
  close(): Promise<void>
}

export async function startBenchStack(options: { maxConnectionsPerUser: number }): Promise<BenchStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainer-chat-bench-'))
  const server = process.env.DATABASE_URL ? await createServerDatabase(process.env.DATABASE_URL) : undefined
  // The stack opens DATA_DIR/pgdata: a copy of the migrated template saves creating a database.
  if (!server) await copyTemplate('migrated', join(dataDir, 'pgdata'))
  let statementCount = 0
  const gatewayLog: string[] = []
  // Read by lambdas/config.ts when the stack (re)parses the configuration. The bench sends far
  // faster than a person types, so the per-user rate limits are raised out of its way (their
  // SQL still runs in every send).
  Object.assign(process.env, {
    MAX_CONNECTIONS_PER_USER: String(options.maxConnectionsPerUser),
    RATE_LIMIT_BURST: '1000000',
    RATE_LIMIT_PER_SECOND: '1000000',
    TYPING_BURST: '1000000',
    TYPING_PER_SECOND: '1000000',
    JOIN_BURST: '1000000',
    JOIN_PER_SECOND: '1000000',
    MARK_AS_READ_BURST: '1000000',
    MARK_AS_READ_PER_SECOND: '1000000',
  })
  let stack: LocalStack
  try {
    stack = await startLocalStack({
      dataDir,
      httpPort: 0,
      wsPort: 0,
      awsPort: 0,
      host: '127.0.0.1',
      databaseUrl: server?.url,
      seed: false,
      onQuery: () => statementCount++,
      log: (line) => {
        if (gatewayLog.length < 100) gatewayLog.push(line)
      },
    })
  } catch (error) {
    await server?.drop()
    await rm(dataDir, { recursive: true, force: true })
    throw error
  }

  return {
    stack,
    statements: () => statementCount,
    gatewayLog,
    createPairs: (prefix, count) => createPairs(stack.db, prefix, count),
    token: (user) => stack.issuer.mint({ sub: user.subject, email: user.email, name: user.name, groups: user.groups }),
    async close() {
      try {
        await stack.stop()
      } finally {
        await server?.drop()
        await rm(dataDir, { recursive: true, force: true })
      }
    },
  }
}

/** One statement: trainers, their members, and one open conversation per pair. */
export async function createPairs(db: Kysely<Database>, prefix: string, count: number): Promise<Pair[]> {
  const { rows } = await sql<{
    conversation_id: string
    member_id: string
    member_subject: string
    trainer_id: string
    trainer_subject: string
  }>`
    WITH trainers AS (
      INSERT INTO users (subject, email, display_name, role)
      SELECT ${prefix} || '-trainer-' || g, ${prefix} || '-trainer-' || g || '@bench.example', ${prefix} || '-trainer-' || g, 'trainer'
      FROM generate_series(0, ${count - 1}::int) g
      RETURNING id, subject
    ),
    members AS (
      INSERT INTO users (subject, email, display_name, role, trainer_id)
      SELECT ${prefix} || '-member-' || g, ${prefix} || '-member-' || g || '@bench.example', ${prefix} || '-member-' || g, 'user', t.id
      FROM generate_series(0, ${count - 1}::int) g JOIN trainers t ON t.subject = ${prefix} || '-trainer-' || g
      RETURNING id, subject, trainer_id
    ),
    conversations AS (
      INSERT INTO conversations (member_id, trainer_id)
      SELECT id, trainer_id FROM members
      RETURNING id, member_id, trainer_id
    )
    SELECT c.id AS conversation_id, m.id AS member_id, m.subject AS member_subject, t.id AS trainer_id, t.subject AS trainer_subject
    FROM conversations c JOIN members m ON m.id = c.member_id JOIN trainers t ON t.id = c.trainer_id`.execute(db)
  const user = (id: string, subject: string, groups: string[]): BenchUser => ({
    id,
    subject,
    email: `${subject}@bench.example`,
    name: subject,
    groups,
  })
  const index = (subject: string) => Number(subject.slice(subject.lastIndexOf('-') + 1))
  return rows
    .map((row) => ({
      member: user(row.member_id, row.member_subject, []),
      trainer: user(row.trainer_id, row.trainer_subject, ['trainer']),
      conversationId: row.conversation_id,
    }))
    .sort((a, b) => index(a.member.subject) - index(b.member.subject))
}

/** The connection ids a user holds right now (the gateway assigns them; the clients never learn them). */
export async function connectionIdsOf(db: Kysely<Database>, userId: string): Promise<string[]> {
  const rows = await db.selectFrom('connections').select('connection_id').where('user_id', '=', userId).orderBy('connected_at').execute()
  return rows.map((row) => row.connection_id)
}
