import { sql } from 'kysely'
import { createChatStore } from '../lambdas/adapters/chat-store.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { createServerDatabase } from '../test/helpers/database.ts'
import { createPairs, type BenchUser } from './bench-stack.ts'
import { MESSAGE_BODY } from './invoke.ts'
import { atMost, type Checks, type Row, type Section, type SummaryEntry } from './report.ts'
import { count } from './stats.ts'

/**
 * Figure 8 (issue 12 item 7, the measured half): how many send statements per second the database
 * sustains with 1, 4, 16 and 64 concurrent connections, each running the send statement back to
 * back: all into one hot conversation (its two participants alternating), and spread, each
 * connection in a conversation of its own; and how many `$connect` + `$disconnect` statement
 * pairs per second 16 concurrent connections sustain. Store calls on a pool of its own on a fresh
 * database, so each concurrent caller is one database connection (as one Lambda container is),
 * without the stack or fan-out. PostgreSQL only: PGlite runs one statement at a time.
 */

export interface ThroughputPlan {
  levels: number[]
  durationMs: number
  connectConcurrency: number
}

export interface ThroughputResult {
  sends: Array<{ concurrency: number; hot: number; spread: number }>
  connectPairsPerSecond: number
}

export async function measureThroughput(plan: ThroughputPlan, checks: Checks): Promise<Section<ThroughputResult | null>> {
  const serverUrl = process.env.DATABASE_URL
  if (!serverUrl) {
    checks.note('throughput: PostgreSQL only (DATABASE_URL); not measured on PGlite')
    return { rows: [], data: null }
  }
  const maxConcurrency = Math.max(...plan.levels, plan.connectConcurrency)
  const server = await createServerDatabase(serverUrl)
  const db = createPostgresDatabase(databaseSettingsFromUrl(server.url, 30_000), { poolSize: maxConcurrency })
  try {
    await migrateToLatest(db)
    const store = createChatStore(db, { sendRateLimit: { burst: 1e9, perSecond: 1e9 } })
    const pairs = await createPairs(db, 'tp', maxConcurrency)
    let connections = 0
    const connect = async (user: BenchUser) => {
      const connectionId = `tp-${connections++}`
      const identity = { subject: user.subject, email: user.email, displayName: user.name, groups: user.groups }
      const result = await store.connect({ connectionId, identity, initialRole: user.groups.includes('trainer') ? 'trainer' : 'user', tokenExpiresAt: new Date(Date.now() + 3_600_000), maxConnectionsPerUser: 1_000 })
      if (result.outcome !== 'connected') throw new Error(`throughput: could not connect ${user.subject} (${result.outcome})`)
      return connectionId
    }
    const members: string[] = []
    for (const pair of pairs) members.push(await connect(pair.member))
    // Open the pool's connections a few at a time before timing (all at once, on a busy machine,
    // some miss the pool's 2 s connect timeout), and keep them: idle ones last 60 s.
    for (let open = 8; open <= maxConcurrency + 7; open += 8) {
      await Promise.all(Array.from({ length: Math.min(open, maxConcurrency) }, () => sql`SELECT pg_sleep(0.2)`.execute(db)))
    }
    const hotTrainer = await connect(pairs[0]!.trainer)
    let sequence = 0

    /** `concurrency` callers, each running `step` back to back for the duration; returns completed steps per second. */
    const rate = async (concurrency: number, step: (worker: number) => Promise<void>) => {
      const deadline = performance.now() + plan.durationMs
      const started = performance.now()
      let done = 0
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          while (performance.now() < deadline) {
            await step(worker)
            done++
          }
        }),
      )
      return done / ((performance.now() - started) / 1000)
    }
    const send = async (connectionId: string, conversationId: string) => {
      const result = await store.sendMessage({ connectionId, conversationId, clientMessageId: `tp-${sequence++}`, body: MESSAGE_BODY })
      checks.expect(result.verdict === 'ok' && result.message !== null, `throughput: a send answered ${result.verdict}`)
    }

    const sends: ThroughputResult['sends'] = []
    for (const concurrency of plan.levels) {
      const hot = await rate(concurrency, (worker) => send(worker % 2 === 0 ? members[0]! : hotTrainer, pairs[0]!.conversationId))
      const spread = await rate(concurrency, (worker) => send(members[worker]!, pairs[worker]!.conversationId))
      sends.push({ concurrency, hot, spread })
    }
    const connectPairsPerSecond = await rate(plan.connectConcurrency, async (worker) => {
      const connectionId = await connect(pairs[worker]!.member)
      await store.disconnect(connectionId)
    })

    const rows: Row[] = sends.map((level) => ({
      figure: '8 Throughput',
      case: `send statement, ${level.concurrency} concurrent connection${level.concurrency === 1 ? '' : 's'}`,
      measured: `one hot conversation ${count(Math.round(level.hot))}/s; spread, a conversation per connection ${count(Math.round(level.spread))}/s (${plan.durationMs / 1000} s each)`,
      result: `${count(Math.round(level.spread))} sends/s spread, ${count(Math.round(level.hot))} hot`,
      target: '–',
      met: null,
    }))
    rows.push({
      figure: '8 Throughput',
      case: `$connect + $disconnect, ${plan.connectConcurrency} concurrent connections`,
      measured: `the connect statement then the disconnect statement, back to back (${plan.durationMs / 1000} s)`,
      result: `${count(Math.round(connectPairsPerSecond))} pairs/s`,
      target: '–',
      met: null,
    })
    const summary: SummaryEntry[] = []
    for (const level of sends) {
      summary.push(atMost(`throughput.send.c${level.concurrency}`, Math.round(level.spread), 'per second', null, `send statements/s, ${level.concurrency} connections, spread over conversations`))
      summary.push(atMost(`throughput.send.hot.c${level.concurrency}`, Math.round(level.hot), 'per second', null, `send statements/s, ${level.concurrency} connections, one conversation`))
    }
    summary.push(atMost(`throughput.connect.c${plan.connectConcurrency}`, Math.round(connectPairsPerSecond), 'per second', null, '$connect + $disconnect statement pairs/s'))
    return { rows, data: { sends, connectPairsPerSecond }, summary }
  } finally {
    await db.destroy()
    await server.drop()
  }
}
