import { Kysely, sql } from 'kysely'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { createSearchStore } from '../lambdas/adapters/search-store.ts'
import type { Identity } from '../lambdas/core/model.ts'
import { PGliteDialect } from '../local/pglite-dialect.ts'
import { createServerDatabase } from '../test/helpers/database.ts'
import { openTemplateCopy } from '../test/helpers/pglite-template.ts'
import { atMost, type Checks, type Row, type Section } from './report.ts'
import { ms, ratio, rotate, roundSummary, scale, settle, summarize, type Summary } from './stats.ts'

/**
 * Figure 7: message search (lambdas/adapters/search-store.ts) when the messages table holds 10^3
 * and 10^6 rows: a page of hits for a word found in a fixed number of messages (what a person
 * looks for: last month's deadlift plan), in one conversation (the member's) and across every
 * conversation of a trainer with one member per conversation; and a page for a word in every
 * message of the conversation. Two databases, loaded once each, queried interleaved, turn by turn.
 * What a search must not do is cost more as the table grows when its answer does not.
 */

export interface SearchPlan {
  smallMessages: number
  largeMessages: number
  /** Conversations (members of the one trainer); the searched conversation holds half the messages. */
  conversations: { small: number; large: number }
  iterations: number
  timeLimitMs: number
}

export interface SearchQueryResult {
  query: string
  small: Summary
  large: Summary
  ratioP50: number
  ratioP99: number
}

const PAGE = 20
/** Messages holding the rare word, in the searched conversation and again spread over the others. */
const RARE_HITS = 100
const RARE_WORD = 'deadlift'
const INSERT_CHUNK = 100_000

interface Fixture {
  db: Kysely<Database>
  conversationId: string
  member: Identity
  trainer: Identity
  close(): Promise<void>
}

export async function measureSearch(plan: SearchPlan, checks: Checks): Promise<Section<{ messages: { small: number; large: number }; loadMs: { small: number; large: number }; queries: SearchQueryResult[] }>> {
  const opened: Array<Pick<Fixture, 'db' | 'close'>> = []
  try {
    if (process.env.DATABASE_URL) {
      for (let i = 0; i < 2; i++) {
        const server = await createServerDatabase(process.env.DATABASE_URL)
        const migrator = createPostgresDatabase(databaseSettingsFromUrl(server.url, 300_000), { poolSize: 1 })
        await migrateToLatest(migrator)
        await migrator.destroy()
        // A new session, as a Lambda's would be: the database-level settings of the migrations
        // (0013: jit off) apply to sessions opened after them.
        const db = createPostgresDatabase(databaseSettingsFromUrl(server.url, 300_000), { poolSize: 1 })
        opened.push({ db, close: async () => (await db.destroy(), await server.drop()) })
      }
    } else {
      for (const copy of await Promise.all([openTemplateCopy('migrated'), openTemplateCopy('migrated')])) {
        opened.push({ db: new Kysely<Database>({ dialect: new PGliteDialect(copy.pglite) }), close: () => copy.close() })
      }
    }
    const [smallDb, largeDb] = opened as [Pick<Fixture, 'db' | 'close'>, Pick<Fixture, 'db' | 'close'>]
    let started = performance.now()
    const small = await populate(smallDb, plan.smallMessages, plan.conversations.small)
    const smallLoadMs = performance.now() - started
    started = performance.now()
    const large = await populate(largeDb, plan.largeMessages, plan.conversations.large)
    const largeLoadMs = performance.now() - started

    const queries: Array<{ name: string; expected: number; run(f: Fixture): Promise<number> }> = [
      {
        name: `one conversation, a word in ${RARE_HITS} of its messages`,
        expected: PAGE,
        run: async (f) => (await createSearchStore(f.db).inConversation(f.member, f.conversationId, { q: RARE_WORD, limit: PAGE })).hits.length,
      },
      {
        name: `a member's conversations (GET /search), the same word`,
        expected: PAGE,
        run: async (f) => (await createSearchStore(f.db).everywhere(f.member, { q: RARE_WORD, limit: PAGE })).hits.length,
      },
      {
        name: `a trainer's members' conversations (GET /search), a word in ${2 * RARE_HITS} messages`,
        expected: PAGE,
        run: async (f) => (await createSearchStore(f.db).everywhere(f.trainer, { q: RARE_WORD, limit: PAGE })).hits.length,
      },
      {
        name: 'one conversation, a word in every message',
        expected: PAGE,
        run: async (f) => (await createSearchStore(f.db).inConversation(f.member, f.conversationId, { q: 'squats', limit: PAGE })).hits.length,
      },
    ]

    const samples = queries.map(() => ({ small: [] as number[], large: [] as number[] }))
    const warmup = 3
    for (const [index, query] of queries.entries()) {
      const deadline = Date.now() + plan.timeLimitMs / queries.length
      for (let i = 0; i < warmup + plan.iterations && Date.now() < deadline; i++) {
        for (const [size, fixture] of rotate([['small', small], ['large', large]] as const, i)) {
          await settle()
          const begun = performance.now()
          const hits = await query.run(fixture)
          const elapsed = performance.now() - begun
          if (i >= warmup) samples[index]?.[size].push(elapsed)
          else checks.expect(hits === query.expected, `search: ${query.name} on ${size} returned ${hits} hits, expected ${query.expected}`)
        }
      }
    }

    const results: SearchQueryResult[] = queries.map((query, index) => {
      const s = summarize(samples[index]?.small ?? [])
      const l = summarize(samples[index]?.large ?? [])
      return { query: query.name, small: roundSummary(s), large: roundSummary(l), ratioP50: l.p50 / s.p50, ratioP99: l.p99 / s.p99 }
    })
    const rows: Row[] = results.map((result) => ({
      figure: '7 Search at scale',
      case: result.query,
      measured:
        `${scale(plan.smallMessages)} messages: p50 ${ms(result.small.p50)} / p99 ${ms(result.small.p99)}; ` +
        `${scale(plan.largeMessages)}: p50 ${ms(result.large.p50)} / p99 ${ms(result.large.p99)} (n=${result.large.n})`,
      result: `${ratio(result.ratioP50)} (p99 ${ratio(result.ratioP99)})`,
      target: '≤ 1.5×',
      met: result.ratioP50 <= 1.5,
    }))
    const worst = results.reduce<SearchQueryResult | undefined>((found, result) => (found === undefined || !(result.ratioP50 <= found.ratioP50) ? result : found), undefined)
    const summary = worst
      ? [atMost('search.1e6v1e3', worst.ratioP50, 'ratio', 1.5, `worst p50 ratio, ${scale(plan.largeMessages)} vs ${scale(plan.smallMessages)} messages: ${worst.query}`)]
      : []
    return {
      rows,
      summary,
      data: { messages: { small: plan.smallMessages, large: plan.largeMessages }, loadMs: { small: Math.round(smallLoadMs), large: Math.round(largeLoadMs) }, queries: results },
    }
  } finally {
    for (const fixture of opened) await fixture.close().catch(() => {})
  }
}

/**
 * One trainer, one member per conversation; the searched conversation holds half the messages,
 * the others share the rest. Every body holds "squats"; RARE_HITS messages of the searched
 * conversation (spread over its whole history) and RARE_HITS of the others hold the rare word.
 * Then ANALYZE, as autovacuum would.
 */
export async function populate(open: Pick<Fixture, 'db' | 'close'>, messages: number, conversations: number): Promise<Fixture> {
  const { db } = open
  const prefix = 'search'
  const { rows: trainers } = await sql<{ id: string }>`
    INSERT INTO users (subject, email, display_name, role)
    VALUES (${`${prefix}-trainer`}, ${`${prefix}-trainer@bench.example`}, 'Trainer', 'trainer') RETURNING id`.execute(db)
  const trainerId = (trainers[0] as { id: string }).id
  await sql`
    WITH members AS (
      INSERT INTO users (subject, email, display_name, role, trainer_id)
      SELECT ${prefix} || '-member-' || g, ${prefix} || '-member-' || g || '@bench.example', 'Member ' || g, 'user', ${trainerId}::uuid
      FROM generate_series(0, ${conversations - 1}::int) g
      RETURNING id, trainer_id, subject
    )
    INSERT INTO conversations (member_id, trainer_id) SELECT id, trainer_id FROM members`.execute(db)
  const { rows: targets } = await sql<{ id: string }>`
    SELECT cv.id FROM conversations cv JOIN users u ON u.id = cv.member_id WHERE u.subject = ${`${prefix}-member-0`}`.execute(db)
  const target = (targets[0] as { id: string }).id

  const body = (every: number) =>
    sql`CASE WHEN s % ${every}::int = 0 THEN 'Week ' || s || ': ${sql.raw(RARE_WORD)} day, five sets, then squats'
      ELSE 'Week ' || s || ': squats, lunges and a long walk; eat well and sleep eight hours' END`
  const inTarget = Math.floor(messages / 2)
  const everyInTarget = Math.max(1, Math.floor(inTarget / RARE_HITS))
  for (let start = 1; start <= inTarget; start += INSERT_CHUNK) {
    const end = Math.min(inTarget, start + INSERT_CHUNK - 1)
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at)
      SELECT cv.id, s, CASE WHEN s % 2 = 0 THEN cv.member_id ELSE cv.trainer_id END, ${body(everyInTarget)}, 's-' || s,
        now() - (${inTarget}::int - s) * interval '1 second'
      FROM conversations cv, generate_series(${start}::int, ${end}::int) s WHERE cv.id = ${target}::uuid`.execute(db)
  }
  // The rest, round-robin over the other conversations: message n of them is seq n / others + 1 of conversation n % others.
  const rest = messages - inTarget
  const { rows: others } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM conversations WHERE id <> ${target}::uuid`.execute(db)
  const otherCount = Number(others[0]?.n)
  const everyElsewhere = Math.max(1, Math.floor(rest / RARE_HITS))
  for (let start = 0; start < rest; start += INSERT_CHUNK) {
    const end = Math.min(rest, start + INSERT_CHUNK) - 1
    await sql`
      WITH numbered AS (SELECT id, member_id, trainer_id, row_number() OVER (ORDER BY id) - 1 AS k FROM conversations WHERE id <> ${target}::uuid)
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, created_at)
      SELECT cv.id, s / ${otherCount}::int + 1, cv.member_id, ${body(everyElsewhere)}, 's-' || s,
        now() - interval '1 day' - (${rest}::int - s) * interval '1 second'
      FROM generate_series(${start}::int, ${end}::int) s JOIN numbered cv ON cv.k = s % ${otherCount}::int`.execute(db)
  }
  await sql`ANALYZE`.execute(db)
  const { rows: counted } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM messages`.execute(db)
  if (Number(counted[0]?.n) !== messages) throw new Error(`search fixture holds ${String(counted[0]?.n)} messages, expected ${messages}`)
  const identity = (subject: string): Identity => ({ subject, email: `${subject}@bench.example`, displayName: subject, groups: [] })
  return { ...open, conversationId: target, member: identity(`${prefix}-member-0`), trainer: identity(`${prefix}-trainer`) }
}
