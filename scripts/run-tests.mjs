#!/usr/bin/env node
// `npm test`: every *.test.ts under test/ and packages/*/test/, each file in its own Node process
// with the test runner's spec reporter (and tsx for TypeScript), two at a time (TEST_CONCURRENCY).
// Each file's output is printed when it finishes, under a line with its duration; a table of the
// slowest files and the totals close the run. Files are listed explicitly: on Node 20,
// `node --test test/` silently finds no .ts files.
// Files start slowest first (longest-processing-time order), by the durations of the previous
// run kept in node_modules/.cache/trainer-chat-tests/durations.json; files without a recorded
// duration go first, then the rest alphabetically. Output order does not change what passes.
// Optional arguments narrow the run to paths containing them: `npm test -- e2e`.
// On embedded PGlite the migrated database templates (test/helpers/pglite-template.ts) and their
// tarballs are made once, before the files start, instead of once per file (TEST_PGLITE_TEMPLATES=off:
// per file, from scratch, for comparison); so is the one `npm run dev` copies (the dev-* tests start it).
// On Linux each file's CPU time (user + sys of its process and the processes it waited for) is
// printed beside its duration: on a shared machine it is the steadier figure.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, relative } from 'node:path'
import { buildConsole } from './build-console.mjs'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)
const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY) || 2)

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return collect(path)
    return name.endsWith('.test.ts') ? [relative(root, path)] : []
  })
}

const packageTests = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name, 'test'))
  .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory())
const files = [join(root, 'test'), ...packageTests]
  .flatMap(collect)
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort()
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ')}`)
  process.exit(1)
}
// The browser tests drive console/dist, the local stack serves it and CDK deploys it: build it
// once here, before any test process could race to (a no-op when its sources did not change).
buildConsole({ log: (line) => console.log(line) })

const env = { LOG_LEVEL: 'error', ...process.env }
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`

// The CPU of reaped children accumulates in this process's cutime + cstime (/proc/self/stat,
// in clock ticks); read when a file's process exits, the increase since the last exit is that
// file's. Two processes reaped in the same turn of the event loop are counted together, on the
// first (rare; the total stays right). Undefined where there is no /proc.
const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100
function childrenCpuMs() {
  try {
    // Fields after the command name (which is in parentheses and may hold spaces): cutime is the 14th, cstime the 15th.
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticksPerSecond
  } catch {
    return undefined
  }
}
let childrenCpuSeen = childrenCpuMs()
function cpuOfExitedChild() {
  const now = childrenCpuMs()
  if (now === undefined || childrenCpuSeen === undefined) return undefined
  const spent = now - childrenCpuSeen
  childrenCpuSeen = now
  return spent
}
const started = performance.now()

if (!process.env.DATABASE_URL && process.env.TEST_PGLITE_TEMPLATES !== 'off') {
  const preparing = performance.now()
  const prepared = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', "const t = await import('./test/helpers/pglite-template.ts'); await t.pgliteTemplates(); await t.prepareTemplateTarballs(); await t.prepareDevTemplate()"],
    { cwd: root, stdio: 'inherit', env },
  )
  if (prepared.status !== 0) {
    console.error('could not prepare the PGlite templates')
    process.exit(1)
  }
  const cpuMs = cpuOfExitedChild()
  console.log(`PGlite templates ready in ${seconds(performance.now() - preparing)}${cpuMs === undefined ? '' : ` (CPU ${seconds(cpuMs)})`}`)
}
console.log(`running ${files.length} test files, ${concurrency} at a time, ${process.env.DATABASE_URL ? 'against DATABASE_URL' : 'on embedded PGlite'}`)

const totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 }
const results = []

// A file that hangs (a server left open keeps its process alive) must not hold the whole run
// past CI's limit: past this it is killed with everything it started, and counted as failed.
// The slowest file takes about 3 minutes on a machine at load 20.
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 15 * 60_000)
/** Each file runs in its own process group, so that a kill also reaches what it spawned (esbuild, Chromium). */
const running = new Set()
const killGroup = (child) => {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) killGroup(child)
    process.exit(130)
  })
}

function runFile(file) {
  return new Promise((resolve) => {
    const begun = performance.now()
    const child = spawn(process.execPath, ['--import', 'tsx', '--test-reporter=spec', file], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    running.add(child)
    let timedOut = false
    const watchdog = setTimeout(() => {
      timedOut = true
      killGroup(child)
    }, FILE_TIMEOUT_MS)
    const chunks = []
    let cpuMs
    child.on('exit', () => {
      cpuMs = cpuOfExitedChild()
    })
    child.stdout.on('data', (chunk) => chunks.push(chunk))
    child.stderr.on('data', (chunk) => chunks.push(chunk))
    child.on('close', (code, signal) => {
      clearTimeout(watchdog)
      running.delete(child)
      const output = Buffer.concat(chunks).toString('utf8')
      const durationMs = performance.now() - begun
      const counts = {}
      for (const [, name, value] of output.matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[name] = Number(value)
      for (const name of Object.keys(totals)) totals[name] += counts[name] ?? 0
      const ok = code === 0 && !timedOut
      results.push({ file, durationMs, cpuMs, ok, tests: counts.tests ?? 0 })
      saveDurations()
      const status = ok ? 'ok' : timedOut ? `FAILED (killed after ${seconds(FILE_TIMEOUT_MS)}: it did not finish)` : `FAILED (${signal ?? `exit ${code}`})`
      const cpu = cpuMs === undefined ? '' : ` (CPU ${seconds(cpuMs)})`
      process.stdout.write(`\n── ${file} · ${seconds(durationMs)}${cpu} · ${counts.tests ?? 0} tests · ${status}\n${output}`)
      resolve()
    })
  })
}

// Longest processing time first: a slow file started last would run alone at the end.
const durationsFile = join(root, 'node_modules', '.cache', 'trainer-chat-tests', 'durations.json')
const known = (() => {
  try {
    return JSON.parse(readFileSync(durationsFile, 'utf8'))
  } catch {
    return {}
  }
})()
// Saved after every file, so that a run stopped halfway still orders the next one.
function saveDurations() {
  try {
    mkdirSync(join(durationsFile, '..'), { recursive: true })
    const durations = { ...known }
    for (const result of results) durations[result.file] = Math.round(result.durationMs)
    writeFileSync(durationsFile, `${JSON.stringify(durations, null, 1)}\n`)
  } catch {
    // best effort: the next run only starts in a worse order
  }
}
const load = () => loadavg().map((value) => value.toFixed(1)).join(' ')
console.log(`load average (1, 5, 15 min) at the start: ${load()}`)
const queue = [...files].sort((a, b) => (known[b] ?? Infinity) - (known[a] ?? Infinity) || a.localeCompare(b))
await Promise.all(
  Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) await runFile(file)
  }),
)

const failed = results.filter((result) => !result.ok)
const cpuKnown = results.every((result) => result.cpuMs !== undefined)
console.log(`\n── durations, slowest first${cpuKnown ? ' (wall, then CPU: user + sys)' : ''}`)
for (const result of [...results].sort((a, b) => b.durationMs - a.durationMs)) {
  const cpu = cpuKnown ? seconds(result.cpuMs).padStart(8) : ''
  console.log(`${seconds(result.durationMs).padStart(8)}${cpu}  ${result.ok ? '  ' : '✖ '}${result.file} (${result.tests})`)
}
const cpuTotal = cpuKnown ? `, ${seconds(results.reduce((sum, result) => sum + result.cpuMs, 0))} of CPU in the test files` : ''
console.log(
  `\n${files.length} files, ${totals.tests} tests: ${totals.pass} passed, ${totals.fail} failed` +
    `${totals.cancelled ? `, ${totals.cancelled} cancelled` : ''}${totals.skipped ? `, ${totals.skipped} skipped` : ''}${totals.todo ? `, ${totals.todo} todo` : ''}` +
    ` in ${seconds(performance.now() - started)}${cpuTotal} (load average at the end: ${load()})`,
)
// The plain closing line CI reads: a file that crashed without a failing test counts as one failure.
const crashed = failed.filter((result) => result.tests === 0 || totals.fail === 0).length
console.log(`tests: ${totals.pass} passed, ${totals.fail + crashed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`)
if (failed.length > 0) console.log(`failed files: ${failed.map((result) => result.file).join(', ')}`)
process.exit(failed.length > 0 || totals.fail > 0 ? 1 : 0)
