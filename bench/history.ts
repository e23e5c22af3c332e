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
 * 10^5 conversations. A third database holds 10^6 messages spread evenly over 10^4
 * conversations, written round-robin as concurrent chats write them (so one conversation's rows
 * lie on many heap pages); the message-history queries run on it too. The databases are loaded
 * once each, queried interleaved, turn by turn; each query's plan on the large ones is checked
 * for sequential scans of big tables, and every page's shared buffers (hit + read) are counted
 * with EXPLAIN (ANALYZE, BUFFERS).
 */

export interface HistoryPlan {
  smallMessages: number
  largeMessages: number
  smallConversations: number
  largeConversations: number
  /** The spread layout: this many messages, evenly over `spreadConversations` conversations. */
  spreadMessages: number
  spreadConversations: number
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
  /** Shared buffers one page touched (EXPLAIN (ANALYZE, BUFFERS), execution only), per database. */
  buffers: { small: Buffers; large: Buffers; spread?: Buffers }
  /** The same query on the spread layout (message-history queries only); its ratio is over `small`. */
  spread?: { summary: Summary; ratioP50: number; ratioP99: number; planIssues: string[] }
}

/** Shared buffers of one statement's execution: found in shared buffers, and read into them. */
export interface Buffers {
  hit: number
  read: number
}

export interface HistoryResult {
  messages: { small: number; large: number; spread: number }
  conversations: { small: number; large: number; spread: number }
  loadMs: { small: number; large: number; spread: number }
  adminQuery: string
  queries: HistoryQueryResult[]
}

const PAGE = 50
/**
 * joinConversation's per-user bucket (burst 60, 2/s) would refuse most of the ~120 joins a query's
 * share of the time limit makes as one user, and a refused join reads no page: the bench would
 * time refusals. The bench measures the page, so its chat store has no join limit.
 */
const UNLIMITED_JOINS = { burst: 1e9, perSecond: 1e9 }
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
  /** The read conversation's rows: on how many heap pages they lie (layout, not a timing). */
  heapPages: number
  /** The admin list's cursor (its ActivityKey) halfway down the list. */
  adminCursor: { at: string; id: string }
  close(): Promise<void>
}

interface Query {
  name: string
  /** The summary ids' name of a message-history query (`history.buffers.<key>.<layout>`); none for the admin list. */
  key?: string
  run(fixture: Fixture): Promise<number>
}

type Layout = 'small' | 'large' | 'spread'

export async function measureHistory(plan: HistoryPlan, checks: Checks): Promise<Section<HistoryResult>> {
  const opened: OpenDatabase[] = []
  try {
    if (process.env.DATABASE_URL) await openServerDatabases(process.env.DATABASE_URL, 3, opened)
    else opened.push(...(await openPGlites(3)))
    const [smallDb, largeDb, spreadDb] = opened as [OpenDatabase, OpenDatabase, OpenDatabase]
    let started = performance.now()
    const small = await populate(smallDb, plan.smallMessages, plan.smallConversations)
    const smallLoadMs = performance.now() - started
    started = performance.now()
    const large = await populate(largeDb, plan.largeMessages, plan.largeConversations)
    const largeLoadMs = performance.now() - started
    started = performance.now()
    const spread = await populateSpread(spreadDb, plan.spreadMessages, plan.spreadConversations)
    const spreadLoadMs = performance.now() - started
    const fixtures: Record<Layout, Fixture> = { small, large, spread }

    const queries: Query[] = [
      {
        name: 'REST history: latest page',
        key: 'rest.latest',
        run: async (f) => (await createAppQueries(f.db).messages(f.identity, f.conversationId, { limit: PAGE })).messages.length,
      },
      {
        name: 'REST history: page from the middle (before=seq)',
        key: 'rest.middle',
        run: async (f) =>
          (await createAppQueries(f.db).messages(f.identity, f.conversationId, { limit: PAGE, before: middleBefore(f) })).messages.length,
      },
      {
        name: 'joinConversation store call: latest page',
        key: 'join.latest',
        run: async (f) =>
          (await createChatStore(f.db, { joinLimit: UNLIMITED_JOINS }).joinConversation({ connectionId: f.connectionId, conversationId: f.conversationId, limit: PAGE })).messages?.length ?? 0,
      },
      {
        name: 'joinConversation store call: catch-up from the middle (afterSeq)',
        key: 'join.afterSeq',
        run: async (f) =>
          (
            await createChatStore(f.db, { joinLimit: UNLIMITED_JOINS }).joinConversation({
              connectionId: f.connectionId,
              conversationId: f.conversationId,
              limit: PAGE,
              afterSeq: middleAfter(f),
            })
          ).messages?.length ?? 0,
      },
      {
        name: 'admin history: latest page',
        key: 'admin.latest',
        run: async (f) =>
          (await createAdminStore(f.db).transaction(f.admin, (tx) => tx.conversationHistory(f.conversationId, { limit: PAGE }))).messages.length,
      },
      { name: 'admin conversation list: first page', run: (f) => adminPage(f, undefined) },
      { name: 'admin conversation list: page from the middle (cursor)', run: (f) => adminPage(f, f.adminCursor) },
    ]

    // Each query has its share of the time limit, so one slow query cannot starve the others;
    // within a query, the databases take turns (the spread one for message-history queries only).
    const samples = queries.map(() => ({ small: [] as number[], large: [] as number[], spread: [] as number[] }))
    // Few warm-up turns: a slow query (an O(n) page at 10^6 rows) must still get measured ones.
    const warmup = 3
    const shortPages = new Set<string>()
    for (const [index, query] of queries.entries()) {
      const layouts: Layout[] = query.key ? ['small', 'large', 'spread'] : ['small', 'large']
      const deadline = Date.now() + plan.timeLimitMs / queries.length
      for (let i = 0; i < warmup + plan.iterations && Date.now() < deadline; i++) {
        for (const layout of rotate(layouts, i)) {
          await settle()
          const begun = performance.now()
          const rows = await query.run(fixtures[layout])
          const elapsed = performance.now() - begun
          if (i >= warmup) samples[index]?.[layout].push(elapsed)
          // Every turn, not only the warm-up ones: a page that stops coming back (a limit, a
          // refusal) must not be timed as a page. One failure per query and layout.
          if (rows !== PAGE && !shortPages.has(`${index} ${layout}`)) {
            shortPages.add(`${index} ${layout}`)
            checks.fail(`history: ${query.name} on ${layout} returned ${rows} rows in turn ${i}, expected ${PAGE}`)
          }
        }
      }
    }

    const results: HistoryQueryResult[] = []
    for (const [index, query] of queries.entries()) {
      const s = summarize(samples[index]?.small ?? [])
      const l = summarize(samples[index]?.large ?? [])
      const buffers = { small: await buffersOf(small, query), large: await buffersOf(large, query) }
      await query.run(large)
      const planIssues = await planIssuesOf(large)
      const result: HistoryQueryResult = {
        query: query.name,
        small: roundSummary(s),
        large: roundSummary(l),
        ratioP50: l.p50 / s.p50,
        ratioP99: l.p99 / s.p99,
        planIssues,
        buffers,
      }
      if (query.key) {
        const w = summarize(samples[index]?.spread ?? [])
        result.buffers.spread = await buffersOf(spread, query)
        await query.run(spread)
        result.spread = { summary: roundSummary(w), ratioP50: w.p50 / s.p50, ratioP99: w.p99 / s.p99, planIssues: await planIssuesOf(spread) }
      }
      results.push(result)
    }

    const data: HistoryResult = {
      messages: { small: plan.smallMessages, large: plan.largeMessages, spread: plan.spreadMessages },
      conversations: { small: plan.smallConversations, large: plan.largeConversations, spread: plan.spreadConversations },
      loadMs: { small: Math.round(smallLoadMs), large: Math.round(largeLoadMs), spread: Math.round(spreadLoadMs) },
      adminQuery: 'lambdas/adapters/admin-store.ts: listConversations and conversationHistory, each in its SERIALIZABLE transaction',
      queries: results,
    }
    const spreadName = `${scale(plan.spreadMessages)} messages over ${scale(plan.spreadConversations)} conversations`
    const rows: Row[] = results.flatMap((result) => {
      const admin = result.query.startsWith('admin conversation list')
      const sizes = admin
        ? [scale(plan.smallConversations), scale(plan.largeConversations), 'conversations']
        : [scale(plan.smallMessages), scale(plan.largeMessages), 'messages']
      const row: Row = {
        figure: '4 History at scale',
        case: result.query,
        measured:
          `${sizes[0]} ${sizes[2]}: p50 ${ms(result.small.p50)} / p99 ${ms(result.small.p99)}; ` +
          `${sizes[1]}: p50 ${ms(result.large.p50)} / p99 ${ms(result.large.p99)}; ` +
          `plan: ${result.planIssues.length === 0 ? 'reads only the page' : result.planIssues.join('; ')}; ` +
          `shared buffers per page ${buffersText(result.buffers.small)} / ${buffersText(result.buffers.large)}` +
          ` (n=${result.large.n})`,
        result: `${ratio(result.ratioP50)} (p99 ${ratio(result.ratioP99)})`,
        target: '≤ 1.5×',
        met: result.ratioP50 <= 1.5,
      }
      if (!result.spread || !result.buffers.spread) return [row]
      const spreadRow: Row = {
        figure: '4 History at scale',
        case: `${result.query}, ${scale(plan.spreadConversations)} conversations`,
        measured:
          `${spreadName} (${spread.heapPages} heap pages hold the conversation's ${spread.conversationMessages}): ` +
          `p50 ${ms(result.spread.summary.p50)} / p99 ${ms(result.spread.summary.p99)} against ${sizes[0]} messages' p50 ${ms(result.small.p50)}; ` +
          `plan: ${result.spread.planIssues.length === 0 ? 'reads only the page' : result.spread.planIssues.join('; ')}; ` +
          `shared buffers per page ${buffersText(result.buffers.spread)} (${sizes[0]}: ${buffersText(result.buffers.small)})` +
          ` (n=${result.spread.summary.n})`,
        result: `${ratio(result.spread.ratioP50)} (p99 ${ratio(result.spread.ratioP99)})`,
        target: '≤ 1.5×',
        met: result.spread.ratioP50 <= 1.5,
      }
      return [row, spreadRow]
    })
    // The summary's history figures: the worst message-history query per layout (the admin list
    // scales conversations, not messages), and every message-history page's buffers.
    const messageQueries = results.filter((result) => !result.query.startsWith('admin conversation list'))
    const worst = worstBy(messageQueries, (result) => result.ratioP50)
    const worstSpread = worstBy(messageQueries, (result) => result.spread?.ratioP50 ?? Number.NaN)
    const summary = [
      ...(worst
        ? [atMost('history.1e6v1e3', worst.ratioP50, 'ratio', 1.5, `worst p50 ratio, ${scale(plan.largeMessages)} vs ${scale(plan.smallMessages)} messages: ${worst.query}`)]
        : []),
      ...(worstSpread?.spread
        ? [
            atMost(
              'history.spread.1e6v1e3',
              worstSpread.spread.ratioP50,
              'ratio',
              1.5,
              `worst p50 ratio, ${spreadName} vs ${scale(plan.smallMessages)} messages: ${worstSpread.query}`,
            ),
          ]
        : []),
      ...queries.flatMap((query) => {
        const result = results.find((found) => found.query === query.name)
        if (!query.key || !result) return []
        return (['large', 'spread'] as const).flatMap((layout) => {
          const used = result.buffers[layout]
          if (!used) return []
          const what = layout === 'large' ? `${scale(plan.largeMessages)} messages, half in the read conversation` : spreadName
          return [atMost(`history.buffers.${query.key}.${layout === 'large' ? '1e6' : 'spread'}`, used.hit + used.read, 'count', null, `${what}: hit ${used.hit} + read ${used.read}`)]
        })
      }),
    ]
    return { rows, data, summary }
  } finally {
    for (const fixture of opened) await fixture.close().catch(() => {})
  }
}

/** A page centred on the middle of the read conversation: `before` its end, `afterSeq` its start. */
function middleBefore(fixture: Fixture): number {
  return Math.floor(fixture.conversationMessages / 2) + PAGE / 2
}

function middleAfter(fixture: Fixture): number {
  return Math.floor(fixture.conversationMessages / 2) - PAGE / 2
}

function worstBy<T>(items: readonly T[], value: (item: T) => number): T | undefined {
  return items.reduce<T | undefined>((found, item) => (found === undefined || !(value(item) <= value(found)) ? item : found), undefined)
}

function buffersText(buffers: Buffers): string {
  return `${buffers.hit + buffers.read} (hit ${buffers.hit}, read ${buffers.read})`
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
export type OpenDatabase = Pick<Fixture, 'db' | 'lastQuery' | 'close'>

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

async function openPGlites(count: number): Promise<OpenDatabase[]> {
  // Copies of the migrated template (test/helpers/pglite-template.ts): far cheaper than creating each.
  const copies = await Promise.all(Array.from({ length: count }, () => openTemplateCopy('migrated')))
  return copies.map((copy) => {
    const { lastQuery, log } = capture()
    const db = new Kysely<Database>({ dialect: new PGliteDialect(copy.pglite), log })
    return { db, lastQuery, close: () => copy.close() }
  })
}

/** Adds each database to `opened` as soon as it exists, so that a failure still drops it. */
export async function openServerDatabases(serverUrl: string, count: number, opened: OpenDatabase[]): Promise<void> {
  for (let i = 0; i < count; i++) {
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

const PREFIX = 'hist'

/** One trainer, an admin, and `conversations` members each with their conversation, activity spread over a year. */
async function populateConversations(db: Kysely<Database>, conversations: number): Promise<{ conversation_id: string; member_id: string }> {
  const prefix = PREFIX
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
  return targets[0] as { conversation_id: string; member_id: string }
}

/**
 * Loads `messages` rows and `conversations` conversations: one trainer, one member per
 * conversation; the read conversation holds half the messages, the rest go 500 to a
 * conversation, one conversation after the other; activity times are spread over a year.
 * Then ANALYZE, as autovacuum would.
 */
export async function populate(open: OpenDatabase, messages: number, conversations: number): Promise<Fixture> {
  const { db } = open
  const target = await populateConversations(db, conversations)
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
  return finish(open, target, messages, conversations, inTarget + remainder)
}

/**
 * Loads `messages` rows evenly over `conversations` conversations (the read one included), in
 * the order concurrent chats write them: every conversation's first message, then every
 * conversation's second, and so on. So one conversation's messages lie about one to a heap
 * page, as in production, not packed together as `populate` leaves them. Then ANALYZE.
 */
export async function populateSpread(open: OpenDatabase, messages: number, conversations: number): Promise<Fixture> {
  const { db } = open
  const target = await populateConversations(db, conversations)
  const perConversation = Math.floor(messages / conversations)
  const seqsPerChunk = Math.max(1, Math.floor(INSERT_CHUNK / conversations))
  for (let start = 1; start <= perConversation; start += seqsPerChunk) {
    const end = Math.min(perConversation, start + seqsPerChunk - 1)
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at, read_at)
      SELECT cv.id, s, CASE WHEN s % 2 = 0 THEN cv.member_id ELSE cv.trainer_id END,
        'History message ' || s || ': ' || repeat('lorem ipsum ', 6), 'h-' || cv.id || '-' || s,
        now() - (${perConversation}::int - s) * interval '1 minute',
        CASE WHEN s > ${perConversation}::int - 2 THEN NULL ELSE now() END
      FROM generate_series(${start}::int, ${end}::int) s, conversations cv
      ORDER BY s, cv.id`.execute(db)
  }
  const remainder = messages - perConversation * conversations
  if (remainder > 0) {
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at)
      SELECT cv.id, ${perConversation}::int + s, cv.member_id, 'History message', 'h-' || cv.id || '-' || (${perConversation}::int + s), now()
      FROM conversations cv, generate_series(1, ${remainder}::int) s WHERE cv.id = ${target.conversation_id}::uuid`.execute(db)
  }
  return finish(open, target, messages, conversations, perConversation + remainder)
}

/** Sets each conversation's last seq, opens the reader's connection, ANALYZEs and checks the load. */
async function finish(
  open: OpenDatabase,
  target: { conversation_id: string; member_id: string },
  messages: number,
  conversations: number,
  conversationMessages: number,
): Promise<Fixture> {
  const { db } = open
  const prefix = PREFIX
  const admin = `${prefix}-admin`
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
  const { rows: pages } = await sql<{ n: number | string }>`
    SELECT count(DISTINCT (ctid::text::point)[0]) AS n FROM messages WHERE conversation_id = ${target.conversation_id}::uuid`.execute(db)
  const subject = `${prefix}-member-0`
  return {
    ...open,
    conversationId: target.conversation_id,
    connectionId,
    identity: { subject, email: `${subject}@bench.example`, displayName: subject, groups: [] },
    admin: { subject: admin, email: `${admin}@bench.example`, displayName: admin, groups: ['admin'] },
    conversationMessages,
    heapPages: Number(pages[0]?.n),
    adminCursor: cursor,
  }
}

/**
 * Shared buffers (hit + read) the query's statement touches on `fixture`, from EXPLAIN (ANALYZE,
 * BUFFERS): its execution only (planning's catalog lookups left out). Run once first, so what it
 * counts is a warm page as the bench timed it.
 */
async function buffersOf(fixture: Fixture, query: Query): Promise<Buffers> {
  await query.run(fixture)
  const statement = fixture.lastQuery.current
  if (!statement) return { hit: Number.NaN, read: Number.NaN }
  const { rows } = await fixture.db.executeQuery<Record<string, unknown>>(
    CompiledQuery.raw(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement.sql}`, [...statement.parameters]),
  )
  const cell = Object.values(rows[0] ?? {})[0]
  const explained = (typeof cell === 'string' ? JSON.parse(cell) : cell) as Array<{ Plan: Record<string, number> }>
  const top = explained[0]?.Plan ?? {}
  return { hit: top['Shared Hit Blocks'] ?? Number.NaN, read: top['Shared Read Blocks'] ?? Number.NaN }
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
