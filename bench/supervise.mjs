#!/usr/bin/env node
// `npm run bench`: runs bench/run.ts in a child process (node --import tsx) and holds it to its
// time limit from outside (issue 12 item 8).
//
// Why a second process: the bench's own watchdog is a timer on its main thread, and PGlite runs
// on that thread as WebAssembly. Filling a history database is one long synchronous call, so on a
// loaded machine the timer fired up to ~10 s late and a `--quick` run took 62 s against its 50.
// Here the limit is kept by a process that does nothing else: the child says when its limit ends
// (its plan decides: 50 s for --quick, 10 min otherwise, counted from this process's start); if it
// is still running `graceMs` later, it is killed, its latest.json (written at the start and the
// end of every section) is marked `timed out`, and the run exits 1. A child that keeps to its time
// stops itself first, as before, and its exit code is passed on.
import { fork } from 'node:child_process'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))

/**
 * Runs `entry` with `args`, passing BENCH_STARTED_AT (epoch ms) in its environment, and waits for
 * it. The child may send `{ deadline: epochMs }` once over IPC; past deadline + graceMs it is
 * killed and `latestFile` is marked. Resolves to the exit code to leave with.
 */
export function supervise(options) {
  const {
    entry,
    args = [],
    latestFile,
    graceMs = 1_500,
    execArgv = ['--import', 'tsx'],
    startedAt = Date.now() - process.uptime() * 1000,
    log = (line) => process.stderr.write(`${line}\n`),
  } = options
  return new Promise((resolve) => {
    const child = fork(entry, args, {
      execArgv,
      env: { ...process.env, BENCH_STARTED_AT: String(Math.round(startedAt)) },
      stdio: 'inherit',
    })
    let timer
    let killed = false
    child.on('message', (message) => {
      if (timer !== undefined || typeof message?.deadline !== 'number') return
      timer = setTimeout(() => {
        killed = true
        child.kill('SIGKILL')
      }, Math.max(0, message.deadline + graceMs - Date.now()))
    })
    child.on('error', (error) => {
      clearTimeout(timer)
      log(`bench: could not start ${entry}: ${error.message}`)
      resolve(1)
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (!killed) return resolve(code ?? (signal ? 1 : 0))
      const stoppedIn = markTimedOut(latestFile)
      log(
        `bench: stopped from outside ${graceMs / 1000} s past its time limit, in ${stoppedIn ?? 'between sections'} ` +
          `(its main thread was busy past the limit); finished sections are in ${latestFile}`,
      )
      resolve(1)
    })
  })
}

/** Sets `status: 'timed out'` in a report the child left `running`; returns the section it was in. */
function markTimedOut(file) {
  let report
  try {
    report = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    report = { status: 'running', finished: [] }
  }
  if (report.status !== 'running') return report.unfinished
  writeJsonFile(file, { ...report, status: 'timed out', stoppedFromOutside: true })
  return report.unfinished
}

/**
 * Writes `value` as JSON by rename, so a reader (or a time-out) never sees half a file; the
 * temporary name ends in .json, so git ignores it too if a crash leaves it behind. Also run.ts's.
 */
export function writeJsonFile(file, value) {
  const temporary = `${file}.${process.pid}.tmp.json`
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`)
  renameSync(temporary, file)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const code = await supervise({ entry: `${here}run.ts`, args: process.argv.slice(2), latestFile: `${here}results/latest.json` })
  process.exit(code)
}
