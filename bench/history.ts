import { CompiledQuery, Kysely, sql, type LogEvent } from 'kysely'
import { createAdminStore } from '../lambdas/adapters/admin-store.ts'
import { createAppQueries } from '../lambdas/adapters/app-queries.ts'
import { createChatStore } from '../lambdas/adapters/chat-store.ts'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import type { Identity } from '../lambdas/core/model.ts'
import { PGliteDialect } from '../local/pglite-dialect.ts'
import { createServerDatabase } from '../test/helpers/database.ts'
import { openTemplateCopy } from '../test/helpers/pglite-template.ts'
import { atMost, type Checks, type Row, type Section } from './report.ts'
import { ms, ratio, rotate, roundSummary, scale, settle, summarize, type Summary } from './stats.ts'

/**
 * Figure 4: a page of 50 messages when the messages table holds 10^3 and 10^6 rows (half of them
 * in the conversation being read) through the REST query, the joinConversation store call and
 * the admin history, and a page of the admin conversation list (admin-store.ts) at 10^3 and
 * 10^5 conversations. Two databases, loaded once each, queried interleaved, turn by turn; each
 * query's plan on the large one is checked for sequential scans of big tables.
 */

export interface HistoryPlan {
  smallMessages: number
  largeMessages: number
  smallConversations: number
  largeConversations: number
  iterations: number
  timeLimitMs: number
}

export interface HistoryQueryResult {
  query: string
  small: Summary
  large: Summary
  ratioP50: number
  ratioP99: number
  /** What the large database's plan does that a keyset page should not: sequential scans of big tables, big sorts. */
  planIssues: string[]
}

export interface HistoryResult {
  messages: { small: number; large: number }
  conversations: { small: number; large: number }
  loadMs: { small: number; large: number }
  adminQuery: string
  queries: HistoryQueryResult[]
}

const PAGE = 50
const MESSAGES_PER_OTHER_CONVERSATION = 500
const INSERT_CHUNK = 100_000

interface Fixture {
  db: Kysely<Database>
  lastQuery: { current: CompiledQuery | undefined }
  conversationId: string
  connectionId: string
  identity: Identity
  admin: Identity
  /** How many messages the read conversation holds. */
  conversationMessages: number
  /** The admin list's cursor (its ActivityKey) halfway down the list. */
  adminCursor: { at: string; id: string }
  close(): Promise<void>
}

interface Query {
  name: string
  run(fixture: Fixture): Promise<number>
}

export async function measureHistory(plan: HistoryPlan, checks: Checks): Promise<Section<HistoryResult>> {
  const opened: OpenDatabase[] = []
  try {
    if (process.env.DATABASE_URL) await openServerDatabases(process.env.DATABASE_URL, opened)
    else opened.push(...(await openPGlites()))
    const [smallDb, largeDb] = opened as [OpenDatabase, OpenDatabase]
    let started = performance.now()
    const small = await populate(smallDb, plan.smallMessages, plan.smallConversations)
    const smallLoadMs = performance.now() - started
    started = performance.now()
    const large = await populate(largeDb, plan.largeMessages, plan.largeConversations)
    const largeLoadMs = performance.now() - started

    const queries: Query[] = [
      {
        name: 'REST history: latest page',
        run: async (f) => (await createAppQueries(f.db).messages(f.identity, f.conversationId, { limit: PAGE })).messages.length,
      },
      {
        name: 'REST history: page from the middle (before=seq)',
        run: async (f) =>
          (await createAppQueries(f.db).messages(f.identity, f.conversationId, { limit: PAGE, before: middle(f) })).messages.length,
      },
      {
        name: 'joinConversation store call: latest page',
        run: async (f) =>
          (await createChatStore(f.db).joinConversation({ connectionId: f.connectionId, conversationId: f.conversationId, limit: PAGE })).messages?.length ?? 0,
      },
      {
        name: 'joinConversation store call: catch-up from the middle (afterSeq)',
        run: async (f) =>
          (
            await createChatStore(f.db).joinConversation({
              connectionId: f.connectionId,
              conversationId: f.conversationId,
              limit: PAGE,
              afterSeq: middle(f),
            })
          ).messages?.length ?? 0,
      },
      {
        name: 'admin history: latest page',
        run: async (f) =>
          (await createAdminStore(f.db).transaction(f.admin, (tx) => tx.conversationHistory(f.conversationId, { limit: PAGE }))).messages.length,
      },
      { name: 'admin conversation list: first page', run: (f) => adminPage(f, undefined) },
      { name: 'admin conversation list: page from the middle (cursor)', run: (f) => adminPage(f, f.adminCursor) },
    ]

    // Each query has its share of the time limit, so one slow query cannot starve the others;
    // within a query, the two sizes take turns.
    const samples = queries.map(() => ({ small: [] as number[], large: [] as number[] }))
    // Few warm-up turns: a slow query (an O(n) page at 10^6 rows) must still get measured ones.
    const warmup = 3
    for (const [index, query] of queries.entries()) {
      const deadline = Date.now() + plan.timeLimitMs / queries.length
      for (let i = 0; i < warmup + plan.iterations && Date.now() < deadline; i++) {
        for (const [size, fixture] of rotate([['small', small], ['large', large]] as const, i)) {
          await settle()
          const begun = performance.now()
          const rows = await query.run(fixture)
          const elapsed = performance.now() - begun
          if (i >= warmup) samples[index]?.[size].push(elapsed)
          else checks.expect(rows === PAGE, `history: ${query.name} on ${size} returned ${rows} rows, expected ${PAGE}`)
        }
      }
    }

    const results: HistoryQueryResult[] = []
    for (const [index, query] of queries.entries()) {
      await query.run(large)
      const planIssues = await planIssuesOf(large)
      const s = summarize(samples[index]?.small ?? [])
      const l = summarize(samples[index]?.large ?? [])
      results.push({
        query: query.name,
        small: roundSummary(s),
        large: roundSummary(l),
        ratioP50: l.p50 / s.p50,
        ratioP99: l.p99 / s.p99,
        planIssues,
      })
    }

    const data: HistoryResult = {
      messages: { small: plan.smallMessages, large: plan.largeMessages },
      conversations: { small: plan.smallConversations, large: plan.largeConversations },
      loadMs: { small: Math.round(smallLoadMs), large: Math.round(largeLoadMs) },
      adminQuery: 'lambdas/adapters/admin-store.ts: listConversations and conversationHistory, each in its SERIALIZABLE transaction',
      queries: results,
    }
    const rows: Row[] = results.map((result) => {
      const admin = result.query.startsWith('admin conversation list')
      const sizes = admin
        ? [scale(plan.smallConversations), scale(plan.largeConversations), 'conversations']
        : [scale(plan.smallMessages), scale(plan.largeMessages), 'messages']
      return {
        figure: '4 History at scale',
        case: result.query,
        measured:
          `${sizes[0]} ${sizes[2]}: p50 ${ms(result.small.p50)} / p99 ${ms(result.small.p99)}; ` +
          `${sizes[1]}: p50 ${ms(result.large.p50)} / p99 ${ms(result.large.p99)}; ` +
          `plan: ${result.planIssues.length === 0 ? 'reads only the page' : result.planIssues.join('; ')}` +
          ` (n=${result.large.n})`,
        result: `${ratio(result.ratioP50)} (p99 ${ratio(result.ratioP99)})`,
        target: '≤ 1.5×',
        met: result.ratioP50 <= 1.5,
      }
    })
    // The summary's one history figure: the worst message-history query (the admin list scales conversations, not messages).
    const worst = results
      .filter((result) => !result.query.startsWith('admin conversation list'))
      .reduce<HistoryQueryResult | undefined>((found, result) => (found === undefined || !(result.ratioP50 <= found.ratioP50) ? result : found), undefined)
    const summary = worst
      ? [atMost('history.1e6v1e3', worst.ratioP50, 'ratio', 1.5, `worst p50 ratio, ${scale(plan.largeMessages)} vs ${scale(plan.smallMessages)} messages: ${worst.query}`)]
      : []
    return { rows, data, summary }
  } finally {
    for (const fixture of opened) await fixture.close().catch(() => {})
  }
}

function middle(fixture: Fixture): number {
  return Math.floor(fixture.conversationMessages / 2)
}

/** The admin API's conversation list (GET /admin/conversations): its store call, in its transaction. */
async function adminPage(fixture: Fixture, after: { at: string; id: string } | undefined): Promise<number> {
  // The transaction refuses a caller who is not an admin (its first statement resolves them).
  const page = await createAdminStore(fixture.db).transaction(fixture.admin, (tx) =>
    tx.listConversations({ limit: PAGE, ...(after ? { after } : {}) }),
  )
  return page.items.length
}

/** A database open and migrated, nothing loaded yet. */
type OpenDatabase = Pick<Fixture, 'db' | 'lastQuery' | 'close'>

/** Remembers the last statement other than transaction control, for EXPLAIN. */
function capture(): { lastQuery: { current: CompiledQuery | undefined }; log(event: LogEvent): void } {
  const lastQuery: { current: CompiledQuery | undefined } = { current: undefined }
  return {
    lastQuery,
    log: (event) => {
      if (!/^\s*(BEGIN|COMMIT|ROLLBACK|START|SET)\b/i.test(event.query.sql)) lastQuery.current = event.query
    },
  }
}

async function openPGlites(): Promise<OpenDatabase[]> {
  // Two copies of the migrated template (test/helpers/pglite-template.ts): far cheaper than creating two.
  const copies = await Promise.all([openTemplateCopy('migrated'), openTemplateCopy('migrated')])
  return copies.map((copy) => {
    const { lastQuery, log } = capture()
    const db = new Kysely<Database>({ dialect: new PGliteDialect(copy.pglite), log })
    return { db, lastQuery, close: () => copy.close() }
  })
}

/** Adds each database to `opened` as soon as it exists, so that a failure still drops it. */
async function openServerDatabases(serverUrl: string, opened: OpenDatabase[]): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const server = await createServerDatabase(serverUrl)
    const { lastQuery, log } = capture()
    // One connection, as a Lambda container holds.
    const db = createPostgresDatabase(databaseSettingsFromUrl(server.url, 120_000), { poolSize: 1, log })
    opened.push({
      db,
      lastQuery,
      async close() {
        await db.destroy()
        await server.drop()
      },
    })
    await migrateToLatest(db)
  }
}

/**
 * Loads `messages` rows and `conversations` conversations: one trainer, one member per
 * conversation; the read conversation holds half the messages, the rest go 500 to a
 * conversation; activity times are spread over a year. Then ANALYZE, as autovacuum would.
 */
async function populate(open: OpenDatabase, messages: number, conversations: number): Promise<Fixture> {
  const { db } = open
  const prefix = 'hist'
  const { rows: trainers } = await sql<{ id: string }>`
    INSERT INTO users (subject, email, display_name, role)
    VALUES (${`${prefix}-trainer`}, ${`${prefix}-trainer@bench.example`}, ${`${prefix}-trainer`}, 'trainer') RETURNING id`.execute(db)
  const trainerId = (trainers[0] as { id: string }).id
  const admin = `${prefix}-admin`
  await sql`
    INSERT INTO users (subject, email, display_name, role)
    VALUES (${admin}, ${`${admin}@bench.example`}, ${admin}, 'admin')`.execute(db)
  for (let start = 0; start < conversations; start += INSERT_CHUNK) {
    const end = Math.min(conversations, start + INSERT_CHUNK) - 1
    await sql`
      WITH members AS (
        INSERT INTO users (subject, email, display_name, role, trainer_id)
        SELECT ${prefix} || '-member-' || g, ${prefix} || '-member-' || g || '@bench.example', ${prefix} || '-member-' || g, 'user', ${trainerId}::uuid
        FROM generate_series(${start}::int, ${end}::int) g
        RETURNING id, trainer_id
      )
      INSERT INTO conversations (member_id, trainer_id, created_at, updated_at)
      SELECT id, trainer_id, now() - interval '400 days', now() - random() * interval '365 days' FROM members`.execute(db)
  }
  const { rows: targets } = await sql<{ conversation_id: string; member_id: string }>`
    SELECT cv.id AS conversation_id, cv.member_id FROM conversations cv JOIN users u ON u.id = cv.member_id
    WHERE u.subject = ${`${prefix}-member-0`}`.execute(db)
  const target = targets[0] as { conversation_id: string; member_id: string }

  const inTarget = Math.floor(messages / 2)
  for (let start = 1; start <= inTarget; start += INSERT_CHUNK) {
    const end = Math.min(inTarget, start + INSERT_CHUNK - 1)
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at, read_at)
      SELECT cv.id, s, CASE WHEN s % 2 = 0 THEN cv.member_id ELSE cv.trainer_id END,
        'History message ' || s || ': ' || repeat('lorem ipsum ', 6), 'h-' || cv.id || '-' || s,
        now() - (${inTarget}::int - s) * interval '1 second',
        CASE WHEN s > ${inTarget}::int - 2 THEN NULL ELSE now() END
      FROM conversations cv, generate_series(${start}::int, ${end}::int) s
      WHERE cv.id = ${target.conversation_id}::uuid`.execute(db)
  }
  const rest = messages - inTarget
  const others = Math.min(conversations - 1, Math.max(1, Math.floor(rest / MESSAGES_PER_OTHER_CONVERSATION)))
  const perOther = Math.floor(rest / others)
  const perChunk = Math.max(1, Math.floor(INSERT_CHUNK / perOther))
  for (let offset = 0; offset < others; offset += perChunk) {
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at, read_at)
      SELECT cv.id, s, CASE WHEN s % 2 = 0 THEN cv.member_id ELSE cv.trainer_id END,
        'History message ' || s || ': ' || repeat('lorem ipsum ', 6), 'h-' || cv.id || '-' || s,
        now() - (${perOther}::int - s) * interval '1 second', now()
      FROM (
        SELECT id, member_id, trainer_id FROM conversations WHERE id <> ${target.conversation_id}::uuid
        ORDER BY id LIMIT ${Math.min(perChunk, others - offset)}::int OFFSET ${offset}::int
      ) cv, generate_series(1, ${perOther}::int) s`.execute(db)
  }
  // An uneven split's remainder goes to the read conversation.
  const remainder = rest - others * perOther
  if (remainder > 0) {
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at)
      SELECT cv.id, ${inTarget}::int + s, cv.member_id, 'History message', 'h-' || cv.id || '-' || (${inTarget}::int + s), now()
      FROM conversations cv, generate_series(1, ${remainder}::int) s WHERE cv.id = ${target.conversation_id}::uuid`.execute(db)
  }
  await sql`
    UPDATE conversations cv SET last_seq = x.n, last_message_at = now()
    FROM (SELECT conversation_id, max(seq) AS n FROM messages GROUP BY conversation_id) x
    WHERE cv.id = x.conversation_id`.execute(db)
  const connectionId = `${prefix}-connection`
  await sql`
    INSERT INTO connections (connection_id, user_id, expires_at)
    VALUES (${connectionId}, ${target.member_id}::uuid, now() + interval '1 day')`.execute(db)
  await sql`ANALYZE`.execute(db)

  const { rows: counted } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM messages`.execute(db)
  if (Number(counted[0]?.n) !== messages) throw new Error(`history fixture holds ${String(counted[0]?.n)} messages, expected ${messages}`)
  const { rows: cursors } = await sql<{ at: string; id: string }>`
    SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, id FROM conversations
    ORDER BY updated_at DESC, id DESC OFFSET ${Math.floor(conversations / 2)}::int LIMIT 1`.execute(db)
  const cursor = cursors[0] as { at: string; id: string }
  const subject = `${prefix}-member-0`
  return {
    ...open,
    conversationId: target.conversation_id,
    connectionId,
    identity: { subject, email: `${subject}@bench.example`, displayName: subject, groups: [] },
    admin: { subject: admin, email: `${admin}@bench.example`, displayName: admin, groups: ['admin'] },
    conversationMessages: inTarget + remainder,
    adminCursor: cursor,
  }
}

/**
 * Runs EXPLAIN ANALYZE on the fixture's last statement and names what does not belong in a
 * keyset page: a sequential scan of a table of more than a thousand rows (the planner rightly
 * scans an empty or tiny one), or any plan node producing more than a thousand rows (a page
 * needs 51: more means the query reads, then sorts or drops, rows it does not return).
 */
async function planIssuesOf(fixture: Fixture): Promise<string[]> {
  const query = fixture.lastQuery.current
  if (!query) return []
  const { rows: big } = await sql<{ relname: string }>`
    SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND reltuples > 1000`.execute(fixture.db)
  const bigTables = new Set(big.map((row) => row.relname))
  const { rows } = await fixture.db.executeQuery<Record<string, string>>(
    CompiledQuery.raw(`EXPLAIN (ANALYZE, BUFFERS OFF) ${query.sql}`, [...query.parameters]),
  )
  const plan = rows.map((row) => Object.values(row)[0] as string)
  // Per table, the most rows one scan of it produced, and whether that scan was sequential.
  const scans = new Map<string, { rows: number; sequential: boolean }>()
  for (const line of plan) {
    const node = /(Seq Scan|(?<!Bitmap )Index Scan|Index Only Scan|Bitmap Heap Scan)(?: Backward)?(?: using \w+)? on (\w+).*\(actual time=\S+ rows=([\d.]+) loops=(\d+)\)/.exec(line)
    if (!node) continue
    const table = node[2] as string
    const rows = Number(node[3]) * Number(node[4])
    const sequential = node[1] === 'Seq Scan' && bigTables.has(table)
    if (rows <= 1000 && !sequential) continue
    const seen = scans.get(table)
    scans.set(table, { rows: Math.max(rows, seen?.rows ?? 0), sequential: sequential || (seen?.sequential ?? false) })
  }
  return [...scans].map(
    ([table, scan]) => `${scan.sequential ? 'sequential scan of' : 'reads'} ${table} (${Math.round(scan.rows).toLocaleString('en-US')} rows)`,
  )
}
