import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { startBenchStack, type BenchStack } from './bench-stack.ts'
import { ClientPool } from './client-pool.ts'
import { measureColdStart, type ColdStartPlan } from './cold-start.ts'
import { measureEndToEnd, type EndToEndPlan } from './end-to-end.ts'
import { measureFanOut, type FanOutPlan } from './fan-out.ts'
import { measureHandlerOverhead, type OverheadPlan } from './handler-overhead.ts'
import { measureHistory, type HistoryPlan } from './history.ts'
import { createInvoker } from './invoke.ts'
import { Checks, formatTable, type Row, type Section } from './report.ts'
import { countRoundTrips } from './round-trips.ts'

/**
 * `npm run bench [-- --quick] [-- --only=cold,handler,e2e,fanout,history]`
 * Measures the backend on this machine against embedded PGlite, or against a fresh database on
 * the server in DATABASE_URL; prints one table and writes it as JSON under bench/results/.
 * Timing never fails the run; a crash or a failed correctness check exits non-zero.
 */

process.env.LOG_LEVEL ??= 'error'

const SECTIONS = ['cold', 'roundtrips', 'handler', 'fanout', 'e2e', 'history'] as const
type SectionName = (typeof SECTIONS)[number]

interface Plan {
  mode: 'default' | 'quick'
  /** The whole run is aborted (exit 1) past this. */
  timeLimitMs: number
  coldStart: ColdStartPlan
  overhead: OverheadPlan
  endToEnd: EndToEndPlan
  fanOut: FanOutPlan
  history: HistoryPlan
}

const PLANS: Record<Plan['mode'], Plan> = {
  default: {
    mode: 'default',
    timeLimitMs: 10 * 60_000,
    coldStart: { rounds: 9, timeLimitMs: 45_000 },
    overhead: { warmup: 30, iterations: 400, timeLimitMs: 12_000 },
    endToEnd: { levels: [1, 50, 250], warmupMs: 1_000, durationMs: 5_000 },
    fanOut: { sizes: [1, 10, 100], warmup: 5, reps: 40 },
    history: { smallMessages: 1_000, largeMessages: 1_000_000, smallConversations: 1_000, largeConversations: 100_000, iterations: 200, timeLimitMs: 30_000 },
  },
  quick: {
    mode: 'quick',
    timeLimitMs: 3 * 60_000,
    coldStart: { rounds: 3, timeLimitMs: 8_000 },
    overhead: { warmup: 10, iterations: 60, timeLimitMs: 4_000 },
    endToEnd: { levels: [1, 50, 250], warmupMs: 300, durationMs: 1_000 },
    fanOut: { sizes: [1, 10, 100], warmup: 2, reps: 10 },
    history: { smallMessages: 1_000, largeMessages: 100_000, smallConversations: 1_000, largeConversations: 10_000, iterations: 30, timeLimitMs: 5_000 },
  },
}

function parseArgs(argv: string[]): { plan: Plan; only: Set<SectionName> } {
  let mode: Plan['mode'] = 'default'
  let only = new Set<SectionName>(SECTIONS)
  for (const arg of argv) {
    if (arg === '--quick') mode = 'quick'
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',').filter(Boolean)
      const unknown = names.filter((name) => !(SECTIONS as readonly string[]).includes(name))
      if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`)
      only = new Set(names as SectionName[])
    } else if (arg === '--help' || arg === '-h') {
      console.log(`usage: npm run bench [-- --quick] [-- --only=${SECTIONS.join(',')}]`)
      process.exit(0)
    } else throw new Error(`unknown argument ${arg}`)
  }
  return { plan: PLANS[mode], only }
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

async function main(): Promise<number> {
  const { plan, only } = parseArgs(process.argv.slice(2))
  const startedAt = new Date()
  const database = process.env.DATABASE_URL ? 'postgres' : 'pglite'
  const watchdog = setTimeout(() => {
    console.error(`bench: aborted after ${plan.timeLimitMs / 1000} s`)
    process.exit(1)
  }, plan.timeLimitMs)
  watchdog.unref()

  const checks = new Checks()
  const rows: Row[] = []
  const data: Record<string, unknown> = {}
  const timings: Record<string, number> = {}
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`)
  const section = async <D>(name: SectionName, title: string, run: () => Promise<Section<D>>) => {
    if (!only.has(name)) return
    log(`${title}…`)
    const started = performance.now()
    const result = await run()
    timings[name] = Math.round(performance.now() - started)
    rows.push(...result.rows)
    data[name] = result.data
    log(`${title}: ${(timings[name] / 1000).toFixed(1)} s`)
  }
  log(`${plan.mode} mode on ${database === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}`)

  // Cold start first, while nothing else runs in this process.
  await section('cold', 'cold start', () => measureColdStart(plan.coldStart, checks))

  const stackSections: SectionName[] = ['roundtrips', 'handler', 'fanout', 'e2e']
  if (stackSections.some((name) => only.has(name))) {
    const maxConnections = Math.max(...plan.fanOut.sizes) + 20
    const bench: BenchStack = await startBenchStack({ maxConnectionsPerUser: maxConnections })
    const pool = ClientPool.start()
    try {
      const invoker = await createInvoker(bench, pool, 'handler')
      await section('roundtrips', 'round trips', () => countRoundTrips(bench, invoker))
      await section('handler', 'handler overhead', () => measureHandlerOverhead(bench, pool, invoker, plan.overhead, checks))
      await section('fanout', 'fan-out', () => measureFanOut(bench, pool, plan.fanOut, checks))
      await section('e2e', 'end to end', () => measureEndToEnd(bench, pool, plan.endToEnd, checks))
      for (const line of bench.gatewayLog) checks.fail(`gateway: ${line}`)
    } finally {
      await pool.stop()
      await bench.close()
    }
  }

  await section('history', 'history at scale', () => measureHistory(plan.history, checks))

  const finishedAt = new Date()
  const table = formatTable(rows)
  console.log(`\ntrainer-chat bench · ${plan.mode} mode · ${database === 'postgres' ? 'PostgreSQL' : 'PGlite'} · node ${process.version} · ${cpus().length} CPUs · ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s\n`)
  console.log(table)
  const report = {
    version: 1,
    mode: plan.mode,
    database,
    sections: [...only],
    startedAt: startedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    sectionDurationsMs: timings,
    commit: gitCommit(),
    machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model },
    plan,
    checks: { passed: checks.failures.length === 0, failures: checks.failures },
    table,
    rows,
    figures: data,
  }
  const directory = join(import.meta.dirname, 'results')
  await mkdir(directory, { recursive: true })
  const json = `${JSON.stringify(report, null, 2)}\n`
  const file = join(directory, `${startedAt.toISOString().replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`)
  await writeFile(file, json)
  await writeFile(join(directory, 'latest.json'), json)
  console.log(`\nwritten: ${file} and bench/results/latest.json`)

  if (checks.failures.length > 0) {
    console.error(`\n${checks.failures.length} correctness check(s) failed:`)
    for (const failure of checks.failures) console.error(`  - ${failure}`)
    return 1
  }
  return 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench crashed:', error)
    process.exit(1)
  },
)
