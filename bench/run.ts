import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { startBenchStack, type BenchStack } from './bench-stack.ts'
import { ClientPool } from './client-pool.ts'
import { measureColdStart, type ColdStartPlan } from './cold-start.ts'
import { measureEndToEnd, type EndToEndPlan } from './end-to-end.ts'
import { measureFanOut, type FanOutPlan } from './fan-out.ts'
import { measureHandlerOverhead, type OverheadPlan } from './handler-overhead.ts'
import { measureHistory, type HistoryPlan } from './history.ts'
import { measurePushBadge, type PushBadgePlan } from './push-badge.ts'
import { createInvoker } from './invoke.ts'
import { Checks, formatTable, type Row, type Section, type SummaryEntry } from './report.ts'
import { countRoundTrips } from './round-trips.ts'
import { measureSearch, type SearchPlan } from './search.ts'
import { measureThroughput, type ThroughputPlan } from './throughput.ts'
import { writeJsonFile } from './supervise.mjs'

/**
 * `npm run bench [-- --quick] [-- --check] [-- --record] [-- --only=cold,handler,e2e,fanout,history]`
 * Measures the backend on this machine against embedded PGlite, or against a fresh database on
 * the server in DATABASE_URL; prints one table and a summary of stable figure ids, and writes
 * both to bench/results/latest.json (git-ignored) after every section. `--record` also writes
 * the committed bench/results/baseline.json; nothing else touches it. A crash, a time-out or a
 * failed correctness check exits non-zero, and so does a missed target with `--check`.
 */

process.env.LOG_LEVEL ??= 'error'

const SECTIONS = ['cold', 'history', 'roundtrips', 'handler', 'fanout', 'e2e', 'search', 'push', 'throughput'] as const
type SectionName = (typeof SECTIONS)[number]

interface Plan {
  mode: 'default' | 'quick'
  /** The whole run, from the process's start: past this it stops (exit 1), keeping what was measured. */
  timeLimitMs: number
  /** A section is started only with at least this much of timeLimitMs left; otherwise it is skipped. */
  sectionMinimumMs: number
  coldStart: ColdStartPlan
  overhead: OverheadPlan
  endToEnd: EndToEndPlan
  fanOut: FanOutPlan
  history: HistoryPlan
  search: SearchPlan
  pushBadge: PushBadgePlan
  throughput: ThroughputPlan
}

const PLANS: Record<Plan['mode'], Plan> = {
  default: {
    mode: 'default',
    timeLimitMs: 10 * 60_000,
    sectionMinimumMs: 60_000,
    coldStart: { rounds: 9, timeLimitMs: 45_000 },
    overhead: { warmup: 30, iterations: 400, timeLimitMs: 12_000 },
    endToEnd: { levels: [1, 50, 250], warmupMs: 1_000, durationMs: 5_000 },
    fanOut: { sizes: [1, 10, 100], warmup: 5, reps: 40, agents: { warmup: 2, reps: 30, timeLimitMs: 25_000 } },
    history: { smallMessages: 1_000, largeMessages: 1_000_000, smallConversations: 1_000, largeConversations: 100_000, spreadMessages: 1_000_000, spreadConversations: 10_000, iterations: 200, timeLimitMs: 40_000 },
    search: { smallMessages: 1_000, largeMessages: 1_000_000, conversations: { small: 100, large: 10_000 }, iterations: 100, timeLimitMs: 20_000 },
    pushBadge: { backlog: 100_000, warmup: 10, iterations: 200, timeLimitMs: 15_000 },
    throughput: { levels: [1, 4, 16, 64], durationMs: 2_000, connectConcurrency: 16 },
  },
  // Under 60 s on 2 cores even when they are busy: small sizes, and every section bounded in time.
  quick: {
    mode: 'quick',
    timeLimitMs: 50_000,
    sectionMinimumMs: 6_000,
    coldStart: { rounds: 2, timeLimitMs: 10_000 },
    overhead: { warmup: 5, iterations: 40, timeLimitMs: 1_000 },
    endToEnd: { levels: [1, 20], warmupMs: 200, durationMs: 800 },
    // No agent comparison (no target; ~4 s with its TLS server and the SDK's client): fanout.client.* are left out.
    fanOut: { sizes: [1, 10, 100], warmup: 2, reps: 8 },
    history: { smallMessages: 1_000, largeMessages: 10_000, smallConversations: 200, largeConversations: 1_000, spreadMessages: 10_000, spreadConversations: 100, iterations: 20, timeLimitMs: 3_000 },
    search: { smallMessages: 1_000, largeMessages: 10_000, conversations: { small: 100, large: 1_000 }, iterations: 20, timeLimitMs: 2_000 },
    pushBadge: { backlog: 10_000, warmup: 3, iterations: 20, timeLimitMs: 2_000 },
    throughput: { levels: [1, 16], durationMs: 400, connectConcurrency: 16 },
  },
}

function parseArgs(argv: string[]): { plan: Plan; only: Set<SectionName>; check: boolean; record: boolean } {
  let mode: Plan['mode'] = 'default'
  let only: Set<SectionName> | undefined
  let check = false
  let record = false
  for (const arg of argv) {
    if (arg === '--quick') mode = 'quick'
    else if (arg === '--check') check = true
    else if (arg === '--record') record = true
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',').filter(Boolean)
      const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name))
      if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`)
      only = new Set(names as SectionName[])
    } else if (arg === '--help' || arg === '-h') {
      console.log(`usage: npm run bench [-- --quick] [-- --check] [-- --record] [-- --only=${SECTIONS.join(',')}]`)
      process.exit(0)
    } else throw new Error(`unknown argument ${arg}`)
  }
  // Loading search's databases alone takes longer than --quick's 50 s: it runs there only when named.
  only ??= new Set<SectionName>(mode === 'quick' ? SECTIONS.filter((name) => name !== 'search') : SECTIONS)
  return { plan: PLANS[mode], only, check, record }
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

interface RunState {
  plan: Plan
  only: Set<SectionName>
  database: 'postgres' | 'pglite'
  startedAt: Date
  checks: Checks
  rows: Row[]
  summary: SummaryEntry[]
  data: Record<string, unknown>
  timings: Record<string, number>
  /** Sections finished so far, in order. */
  finished: SectionName[]
  /** Sections not started because the run's time was nearly up. */
  skipped: SectionName[]
  /** The section running now, if any. */
  running: SectionName | undefined
}

const RESULTS = join(import.meta.dirname, 'results')
const LATEST = join(RESULTS, 'latest.json')
const BASELINE = join(RESULTS, 'baseline.json')

function report(state: RunState, status: 'running' | 'complete' | 'timed out') {
  const now = Date.now()
  return {
    version: 2,
    status,
    mode: state.plan.mode,
    database: state.database,
    sections: [...state.only],
    finished: state.finished,
    skipped: state.skipped,
    ...(status === 'complete' ? {} : { unfinished: state.running }),
    startedAt: state.startedAt.toISOString(),
    durationMs: now - state.startedAt.getTime(),
    sectionDurationsMs: state.timings,
    commit: gitCommit(),
    machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAverage: loadavg().map((load) => Math.round(load * 100) / 100) },
    plan: state.plan,
    checks: { passed: state.checks.failures.length === 0, failures: state.checks.failures, notes: state.checks.notes },
    summary: state.summary,
    table: formatTable(state.rows),
    rows: state.rows,
    figures: state.data,
  }
}

/** Written at the start and the end of every section (by rename: never half a file). */
function writeReport(file: string, value: unknown): void {
  mkdirSync(RESULTS, { recursive: true })
  writeJsonFile(file, value)
}

function readBaseline(): Map<string, SummaryEntry> {
  try {
    const baseline = JSON.parse(readFileSync(BASELINE, 'utf8')) as { summary?: SummaryEntry[] }
    return new Map((baseline.summary ?? []).map((entry) => [entry.id, entry]))
  } catch {
    return new Map()
  }
}

function formatSummary(summary: readonly SummaryEntry[], baseline: Map<string, SummaryEntry>): string {
  const lines = summary.map((entry) => {
    const before = baseline.get(entry.id)
    const target = entry.target === null ? '–' : `≤ ${entry.target}`
    const met = entry.met === null ? '–' : entry.met ? 'yes' : 'MISSED'
    const was = before ? ` (baseline ${before.value})` : ''
    return `  ${entry.id.padEnd(40)} ${String(entry.value).padStart(10)} ${entry.unit.padEnd(6)} target ${target.padEnd(8)} ${met}${was}${entry.detail ? ` · ${entry.detail}` : ''}`
  })
  return lines.join('\n')
}

async function main(): Promise<number> {
  const { plan, only, check, record } = parseArgs(process.argv.slice(2))
  const state: RunState = {
    plan,
    only,
    database: process.env.DATABASE_URL ? 'postgres' : 'pglite',
    startedAt: new Date(),
    checks: new Checks(),
    rows: [],
    summary: [],
    data: {},
    timings: {},
    finished: [],
    skipped: [],
    running: undefined,
  }
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`)
  // The run's limit counts from the start of `npm run bench` (bench/supervise.mjs passes its start
  // time), or of this process when it runs alone, so loading the bench counts too.
  const endsAt = (Number(process.env.BENCH_STARTED_AT) || Date.now() - process.uptime() * 1000) + plan.timeLimitMs
  // The supervisor holds the run to the limit from outside, should this thread be too busy to.
  if (process.send) {
    process.send({ deadline: endsAt })
    process.channel?.unref()
  }
  // What was measured stays in latest.json: the time-out writes it before leaving.
  const watchdog = setTimeout(() => {
    writeReport(LATEST, report(state, 'timed out'))
    console.error(`bench: stopped after ${plan.timeLimitMs / 1000} s in ${state.running ?? 'between sections'}; finished sections are in bench/results/latest.json`)
    process.exit(1)
  }, endsAt - Date.now())
  watchdog.unref()

  // Past this, a section that has not started is skipped (and listed), so the run ends in its time.
  const section = async <D>(name: SectionName, title: string, run: () => Promise<Section<D>>) => {
    if (!only.has(name)) return
    const left = endsAt - Date.now()
    if (left < plan.sectionMinimumMs) {
      state.skipped.push(name)
      log(`${title}: skipped, ${(left / 1000).toFixed(1)} s of the ${plan.timeLimitMs / 1000} s left`)
      return
    }
    log(`${title}…`)
    state.running = name
    // Written at the start too, so a run stopped from outside says where it was.
    writeReport(LATEST, report(state, 'running'))
    const started = performance.now()
    const result = await run()
    state.timings[name] = Math.round(performance.now() - started)
    state.rows.push(...result.rows)
    state.summary.push(...(result.summary ?? []))
    state.data[name] = result.data
    state.finished.push(name)
    state.running = undefined
    writeReport(LATEST, report(state, 'running'))
    log(`${title}: ${((state.timings[name] ?? 0) / 1000).toFixed(1)} s`)
  }
  log(`${plan.mode} mode on ${state.database === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}`)

  // Cold start first, while nothing else runs in this process. Then the figures with targets
  // (handler, fan-out, history) before those without (round trips, end to end), so a busy
  // machine that runs out of time loses the least.
  await section('cold', 'cold start', () => measureColdStart(plan.coldStart, state.checks))

  const stackSections: SectionName[] = ['handler', 'push', 'fanout', 'roundtrips', 'e2e']
  if (stackSections.some((name) => only.has(name))) {
    const maxConnections = Math.max(...plan.fanOut.sizes) + 20
    const started = performance.now()
    const pool = ClientPool.start()
    const bench: BenchStack = await startBenchStack({ maxConnectionsPerUser: maxConnections })
    state.timings['stackStart'] = Math.round(performance.now() - started)
    try {
      const invoker = await createInvoker(bench, pool, 'handler')
      await section('handler', 'handler overhead', () => measureHandlerOverhead(bench, pool, invoker, plan.overhead, state.checks))
      await section('push', 'push badge', () => measurePushBadge(bench, invoker, plan.pushBadge, state.checks))
      await section('fanout', 'fan-out', () => measureFanOut(bench, pool, plan.fanOut, state.checks))
      // History runs on databases of its own; the stack idles meanwhile.
      await section('history', 'history at scale', () => measureHistory(plan.history, state.checks))
      await section('roundtrips', 'round trips', () => countRoundTrips(bench, invoker))
      await section('e2e', 'end to end', () => measureEndToEnd(bench, pool, plan.endToEnd, state.checks))
      // Search runs on databases of its own too, last: it has a target but a long load.
      await section('search', 'search at scale', () => measureSearch(plan.search, state.checks))
      for (const line of bench.gatewayLog) state.checks.fail(`gateway: ${line}`)
    } finally {
      await pool.stop()
      await bench.close()
    }
  } else {
    await section('history', 'history at scale', () => measureHistory(plan.history, state.checks))
    await section('search', 'search at scale', () => measureSearch(plan.search, state.checks))
  }
  // Its own database and pool, the stack stopped: capacity figures, no target, so last.
  await section('throughput', 'throughput', () => measureThroughput(plan.throughput, state.checks))

  const final = report(state, 'complete')
  const baseline = readBaseline()
  console.log(`\ntrainer-chat bench · ${plan.mode} mode · ${state.database === 'postgres' ? 'PostgreSQL' : 'PGlite'} · node ${process.version} · ${cpus().length} CPUs · load ${final.machine.loadAverage[0]} · ${(final.durationMs / 1000).toFixed(0)} s\n`)
  console.log(final.table)
  console.log(`\nsummary (${baseline.size > 0 ? 'baseline: bench/results/baseline.json' : 'no baseline recorded'}):\n${formatSummary(state.summary, baseline)}`)
  writeReport(LATEST, final)
  console.log(`\nwritten: bench/results/latest.json${record ? ' and bench/results/baseline.json' : ''}`)
  if (record) writeReport(BASELINE, final)

  let code = 0
  if (state.checks.failures.length > 0) {
    console.error(`\n${state.checks.failures.length} correctness check(s) failed:`)
    for (const failure of state.checks.failures) console.error(`  - ${failure}`)
    code = 1
  }
  if (state.skipped.length > 0) console.error(`\nskipped for time: ${state.skipped.join(', ')} (their figures are not in this run)`)
  if (check) {
    const missed = state.summary.filter((entry) => entry.met === false)
    if (missed.length > 0) {
      console.error(`\n--check: ${missed.length} target(s) missed: ${missed.map((entry) => entry.id).join(', ')}`)
      code = 1
    }
    if (state.skipped.length > 0) {
      console.error(`--check: sections skipped for time, their targets unchecked: ${state.skipped.join(', ')}`)
      code = 1
    }
  }
  return code
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench crashed:', error)
    process.exit(1)
  },
)
