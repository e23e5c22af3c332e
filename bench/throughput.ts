import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { sql, type Kysely } from 'kysely'
import { createChatStore } from '../lambdas/adapters/chat-store.ts'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../lambdas/adapters/postgres.ts'
import { createServerDatabase } from '../test/helpers/database.ts'
import { createPairs, type BenchUser } from './bench-stack.ts'
import { MESSAGE_BODY } from './invoke.ts'
import { atMost, type Checks, type Row, type Section, type SummaryEntry } from './report.ts'
import { count, median, round } from './stats.ts'

/**
 * Figure 8 (issue 12 item 7, the measured half): how many send statements per second the database
 * sustains with 1, 4, 16 and 64 concurrent connections, each running the send statement back to
 * back: all into one hot conversation (its two participants alternating), and spread, each
 * connection in a conversation of its own; and how many `$connect` + `$disconnect` statement
 * pairs per second 16 concurrent connections sustain. Store calls on a pool of its own on a fresh
 * database, so each concurrent caller is one database connection (as one Lambda container is),
 * without the stack or fan-out. PostgreSQL only: PGlite runs one statement at a time.
 *
 * Statements per second on a shared, loaded machine say more about the other sessions than about
 * the database, so each run also reports the database CPU time per statement: the user + system
 * time of our database's backends (from /proc, when the server runs on this host), divided by the
 * statements they ran. That figure does not depend on how much of the machine we got, and
 * 1000 / (CPU ms per statement) is the rate one database core sustains. And the WAL one send
 * writes (EXPLAIN (ANALYZE, WAL) of the send statement), for the storage side of the model.
 */

export interface ThroughputPlan {
  levels: number[]
  durationMs: number
  connectConcurrency: number
}

export interface ThroughputResult {
  /** Statements per second, and database CPU ms per statement (null when it could not be read). */
  sends: Array<{ concurrency: number; hot: number; spread: number; hotCpuMs: number | null; spreadCpuMs: number | null }>
  connectPairsPerSecond: number
  connectCpuMsPerPair: number | null
  /** typing, markAsRead (marking nothing), joinConversation (latest page of 50), spread, connectConcurrency callers. */
  others: Array<{ action: 'typing' | 'markAsRead' | 'joinConversation'; perSecond: number; cpuMs: number | null }>
  /** pg_total_relation_size('messages') over its row count at the end of the run. */
  storedBytesPerMessage: number | null
  /** Median over a few sends of the WAL the send statement writes, without its commit record. */
  wal: { bytes: number; records: number; fullPageImages: number; samples: number }
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
    const unlimited = { burst: 1e9, perSecond: 1e9 }
    const store = createChatStore(db, { sendRateLimit: unlimited, typingLimit: unlimited, joinLimit: unlimited, readLimit: unlimited })
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

    const cpu = await backendCpu(db)
    if (!cpu.available) checks.note(`throughput: database CPU per statement not measured (${cpu.reason})`)

    /**
     * `concurrency` callers, each running `step` back to back for the duration; returns completed
     * steps per second and the database CPU ms per step.
     */
    const rate = async (concurrency: number, step: (worker: number) => Promise<void>) => {
      const before = await cpu.read()
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
      const perSecond = done / ((performance.now() - started) / 1000)
      const after = await cpu.read()
      return { perSecond, cpuMs: before && after && done > 0 ? round(cpuDelta(before, after) / done, 3) : null }
    }
    /** The last message each connection sent, for markAsRead. */
    const lastSent = new Map<string, string>()
    const send = async (connectionId: string, conversationId: string) => {
      const result = await store.sendMessage({ connectionId, conversationId, clientMessageId: `tp-${sequence++}`, body: MESSAGE_BODY })
      checks.expect(result.verdict === 'ok' && result.message !== null, `throughput: a send answered ${result.verdict}`)
      if (result.verdict === 'ok' && result.message) lastSent.set(connectionId, result.message.id)
    }

    const sends: ThroughputResult['sends'] = []
    for (const concurrency of plan.levels) {
      const hot = await rate(concurrency, (worker) => send(worker % 2 === 0 ? members[0]! : hotTrainer, pairs[0]!.conversationId))
      const spread = await rate(concurrency, (worker) => send(members[worker]!, pairs[worker]!.conversationId))
      sends.push({ concurrency, hot: hot.perSecond, spread: spread.perSecond, hotCpuMs: hot.cpuMs, spreadCpuMs: spread.cpuMs })
    }
    const connectPairs = await rate(plan.connectConcurrency, async (worker) => {
      const connectionId = await connect(pairs[worker]!.member)
      await store.disconnect(connectionId)
    })
    const connectPairsPerSecond = connectPairs.perSecond
    // The other statements a conversation runs, spread, at the connect level's concurrency. Each
    // member marks its own last message read: the statement runs whole, but marks nothing, so its
    // CPU is a lower bound for a markAsRead that marks a message.
    const others: ThroughputResult['others'] = []
    const expectOk = (action: string, verdict: string) => checks.expect(verdict === 'ok', `throughput: ${action} answered ${verdict}`)
    const otherSteps: Array<[ThroughputResult['others'][number]['action'], (worker: number) => Promise<void>]> = [
      ['typing', async (worker) => expectOk('typing', (await store.typing({ connectionId: members[worker]!, conversationId: pairs[worker]!.conversationId })).verdict)],
      ['markAsRead', async (worker) => expectOk('markAsRead', (await store.markAsRead({ connectionId: members[worker]!, conversationId: pairs[worker]!.conversationId, messageId: lastSent.get(members[worker]!)! })).verdict)],
      ['joinConversation', async (worker) => expectOk('joinConversation', (await store.joinConversation({ connectionId: members[worker]!, conversationId: pairs[worker]!.conversationId, limit: 50 })).verdict)],
    ]
    for (const [action, step] of otherSteps) {
      const measured = await rate(plan.connectConcurrency, step)
      others.push({ action, perSecond: measured.perSecond, cpuMs: measured.cpuMs })
    }
    const wal = await sendWal(db, members[1]!, pairs[1]!.conversationId)
    // What the table, its TOAST and its indexes hold per stored message, for the storage model.
    // Over only the rows this run wrote (thousands), so per-page overhead is included but the
    // indexes are young; a figure for the order of magnitude, not for a 10^8-row table.
    const { rows: [stored] } = await sql<{ messages: number; bytes: number }>`
      SELECT count(*)::int AS messages, pg_total_relation_size('messages')::float8 AS bytes FROM messages`.execute(db)
    const storedBytesPerMessage = stored && stored.messages > 0 ? Math.round(stored.bytes / stored.messages) : null

    const cpuText = (value: number | null) => (value === null ? 'db CPU not measured' : `db CPU ${value.toFixed(2)} ms each`)
    const rows: Row[] = sends.map((level) => ({
      figure: '8 Throughput',
      case: `send statement, ${level.concurrency} concurrent connection${level.concurrency === 1 ? '' : 's'}`,
      measured: `one hot conversation ${count(Math.round(level.hot))}/s, ${cpuText(level.hotCpuMs)}; spread, a conversation per connection ${count(Math.round(level.spread))}/s, ${cpuText(level.spreadCpuMs)} (${plan.durationMs / 1000} s each)`,
      result: `${count(Math.round(level.spread))} sends/s spread, ${count(Math.round(level.hot))} hot`,
      target: '–',
      met: null,
    }))
    rows.push({
      figure: '8 Throughput',
      case: `$connect + $disconnect, ${plan.connectConcurrency} concurrent connections`,
      measured: `the connect statement then the disconnect statement, back to back (${plan.durationMs / 1000} s), ${cpuText(connectPairs.cpuMs)}`,
      result: `${count(Math.round(connectPairsPerSecond))} pairs/s`,
      target: '–',
      met: null,
    })
    for (const other of others) {
      rows.push({
        figure: '8 Throughput',
        case: `${other.action}, ${plan.connectConcurrency} concurrent connections`,
        measured: `the ${other.action} statement back to back, each connection in its own conversation${other.action === 'markAsRead' ? ' (marks nothing: its own last message)' : other.action === 'joinConversation' ? ' (latest page of 50)' : ''} (${plan.durationMs / 1000} s), ${cpuText(other.cpuMs)}`,
        result: `${count(Math.round(other.perSecond))}/s`,
        target: '–',
        met: null,
      })
    }
    rows.push({
      figure: '8 Throughput',
      case: 'WAL per send',
      measured: `EXPLAIN (ANALYZE, WAL) of the send statement, median of ${wal.samples}: ${wal.records} records, ${wal.fullPageImages} full-page images (the commit record not included)`,
      result: `${count(wal.bytes)} bytes`,
      target: '–',
      met: null,
    })
    rows.push({
      figure: '8 Throughput',
      case: 'Storage per message',
      measured: `pg_total_relation_size('messages') over the ${count(stored?.messages ?? 0)} messages this run stored (table, TOAST, indexes)`,
      result: storedBytesPerMessage === null ? 'not measured' : `${count(storedBytesPerMessage)} bytes`,
      target: '–',
      met: null,
    })
    const summary: SummaryEntry[] = []
    for (const level of sends) {
      summary.push(atMost(`throughput.send.c${level.concurrency}`, Math.round(level.spread), 'per second', null, `send statements/s, ${level.concurrency} connections, spread over conversations`))
      summary.push(atMost(`throughput.send.hot.c${level.concurrency}`, Math.round(level.hot), 'per second', null, `send statements/s, ${level.concurrency} connections, one conversation`))
    }
    summary.push(atMost(`throughput.connect.c${plan.connectConcurrency}`, Math.round(connectPairsPerSecond), 'per second', null, '$connect + $disconnect statement pairs/s'))
    // Left out, not filled in, when /proc could not be read.
    for (const level of sends) {
      if (level.spreadCpuMs !== null) summary.push(atMost(`throughput.send.dbCpuMs.c${level.concurrency}`, level.spreadCpuMs, 'ms', null, `database CPU per send statement, ${level.concurrency} connections, spread`))
      if (level.hotCpuMs !== null) summary.push(atMost(`throughput.send.hot.dbCpuMs.c${level.concurrency}`, level.hotCpuMs, 'ms', null, `database CPU per send statement, ${level.concurrency} connections, one conversation`))
    }
    if (connectPairs.cpuMs !== null) summary.push(atMost(`throughput.connect.dbCpuMs.c${plan.connectConcurrency}`, connectPairs.cpuMs, 'ms', null, 'database CPU per $connect + $disconnect pair'))
    for (const other of others) {
      summary.push(atMost(`throughput.${other.action}.c${plan.connectConcurrency}`, Math.round(other.perSecond), 'per second', null, `${other.action} statements/s, ${plan.connectConcurrency} connections, spread`))
      if (other.cpuMs !== null) summary.push(atMost(`throughput.${other.action}.dbCpuMs.c${plan.connectConcurrency}`, other.cpuMs, 'ms', null, `database CPU per ${other.action} statement`))
    }
    if (storedBytesPerMessage !== null) summary.push(atMost('throughput.message.storedBytes', storedBytesPerMessage, 'count', null, `bytes on disk per message (table, TOAST, indexes) over ${stored!.messages} messages`))
    summary.push(atMost('throughput.send.walBytes', wal.bytes, 'count', null, `WAL per send statement, median of ${wal.samples}, commit record not included`))
    return { rows, data: { sends, connectPairsPerSecond, connectCpuMsPerPair: connectPairs.cpuMs, others, storedBytesPerMessage, wal }, summary }
  } finally {
    await db.destroy()
    await server.drop()
  }
}

type CpuSnapshot = Map<number, number>

/**
 * Reads the CPU time (user + system, ms) of every backend connected to `db`'s database, from
 * /proc/<pid>/stat. Only possible when the server runs on this host in our pid namespace: checked
 * once by finding a backend's pid with the command name `postgres`.
 */
async function backendCpu(db: Kysely<Database>): Promise<{ available: true; read(): Promise<CpuSnapshot> } | { available: false; reason: string; read(): Promise<null> }> {
  const unavailable = (reason: string) => ({ available: false as const, reason, read: async () => null })
  if (process.platform !== 'linux') return unavailable('not on Linux')
  let ticksPerSecond: number
  try {
    ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  } catch {
    return unavailable('getconf CLK_TCK failed')
  }
  const pids = async () => {
    const { rows } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(db)
    return rows.map((row) => row.pid)
  }
  const [probe] = await pids()
  try {
    if (probe === undefined || readFileSync(`/proc/${probe}/comm`, 'utf8').trim() !== 'postgres') return unavailable('the server is not a process on this host')
  } catch {
    return unavailable('the server is not a process on this host')
  }
  const read = async () => {
    const snapshot: CpuSnapshot = new Map()
    for (const pid of await pids()) {
      try {
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        snapshot.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond)
      } catch {
        // The backend exited between the listing and the read; its time is lost (noted in the README).
      }
    }
    return snapshot
  }
  return { available: true, read }
}

/** CPU ms the backends used between two snapshots; a backend that appeared in between counts from zero. */
function cpuDelta(before: CpuSnapshot, after: CpuSnapshot): number {
  let total = 0
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0)
  return total
}

/**
 * The WAL one send statement writes: the exact statement ChatStore.sendMessage sends (see
 * lambdas/adapters/chat-store.ts), under EXPLAIN (ANALYZE, WAL), a few times; the median. The
 * function's inserts and updates run inside the plan's Function Scan, so the plan's WAL counts
 * them; the commit record (a few dozen bytes) comes after the plan and is not included.
 */
async function sendWal(db: Kysely<Database>, connectionId: string, conversationId: string): Promise<ThroughputResult['wal']> {
  const samples: Array<{ bytes: number; records: number; fullPageImages: number }> = []
  for (let turn = 0; turn < 9; turn++) {
    const { rows } = await sql<{ 'QUERY PLAN': Array<{ Plan: { 'WAL Bytes'?: number; 'WAL Records'?: number; 'WAL FPI'?: number } }> }>`
      EXPLAIN (ANALYZE, WAL, FORMAT JSON)
      SELECT * FROM trainer_chat_send_message(${connectionId}::text, ${conversationId}::uuid, ${`tp-wal-${turn}`}::text, ${MESSAGE_BODY}::text,
        ${null}::uuid, ${null}::text, ${null}::int, ${3600}::int, ${null}::uuid, ${1e9}::float8, ${1e9}::float8)`.execute(db)
    const plan = rows[0]!['QUERY PLAN'][0]!.Plan
    samples.push({ bytes: plan['WAL Bytes'] ?? 0, records: plan['WAL Records'] ?? 0, fullPageImages: plan['WAL FPI'] ?? 0 })
  }
  return {
    bytes: median(samples.map((sample) => sample.bytes)),
    records: median(samples.map((sample) => sample.records)),
    fullPageImages: median(samples.map((sample) => sample.fullPageImages)),
    samples: samples.length,
  }
}
