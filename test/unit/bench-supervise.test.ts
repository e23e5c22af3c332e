import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { supervise } from '../../bench/supervise.mjs'

/**
 * `npm run bench` holds the bench to its time limit from a second process (bench/supervise.mjs,
 * issue 12 item 8): a child whose main thread is stuck past its limit (as PGlite's WebAssembly
 * can hold it) is killed and its report marked; a child that ends by itself keeps its exit code
 * and its report. The children here are small scripts standing in for bench/run.ts, speaking the
 * same IPC message; nothing waits on a fixed delay, only on the child's exit.
 */

const dir = mkdtempSync(join(tmpdir(), 'bench-supervise-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A child script that writes a `running` report naming `history`, says its limit ends now, then does `then(latestFile)`. */
function child(name: string, then: (latestFile: string) => string): { entry: string; latestFile: string } {
  const latestFile = join(dir, `${name}.latest.json`)
  const entry = join(dir, `${name}.mjs`)
  writeFileSync(
    entry,
    [
      "import { writeFileSync } from 'node:fs'",
      `writeFileSync(${JSON.stringify(latestFile)}, JSON.stringify({ status: 'running', finished: ['cold'], unfinished: 'history', summary: [{ id: 'x', value: 1 }] }))`,
      'process.channel.unref()',
      // Once the message is out (the callback), as a stuck bench would be after sending it.
      `process.send({ deadline: Date.now() }, () => { ${then(latestFile)} })`,
    ].join('\n'),
  )
  return { entry, latestFile }
}

describe('bench/supervise.mjs', () => {
  test('kills a child still busy past its limit, marks its report timed out and exits 1', async () => {
    // Busy for 30 s at most, then exit 3: a supervisor that fails to kill it fails the test, not hangs it.
    const { entry, latestFile } = child('stuck', () => 'const until = Date.now() + 30_000; while (Date.now() < until) {} process.exit(3)')
    const lines: string[] = []
    const code = await supervise({ entry, latestFile, graceMs: 50, execArgv: [], log: (line) => lines.push(line) })
    assert.equal(code, 1)
    const report = JSON.parse(readFileSync(latestFile, 'utf8'))
    assert.equal(report.status, 'timed out')
    assert.equal(report.stoppedFromOutside, true)
    // What the child had measured is kept.
    assert.deepEqual(report.finished, ['cold'])
    assert.deepEqual(report.summary, [{ id: 'x', value: 1 }])
    assert.match(lines.join('\n'), /stopped from outside .* in history/)
  })

  test('a child that ends by itself keeps its exit code and its report', async () => {
    for (const [name, exit] of [['ok', 0], ['failed', 1]] as const) {
      // Marks its report complete before leaving, as bench/run.ts does, well inside a long grace.
      const { entry, latestFile } = child(name, (file) => `writeFileSync(${JSON.stringify(file)}, JSON.stringify({ status: 'complete' })); process.exit(${exit})`)
      const lines: string[] = []
      const code = await supervise({ entry, latestFile, graceMs: 600_000, execArgv: [], log: (line) => lines.push(line) })
      assert.equal(code, exit, name)
      assert.deepEqual(JSON.parse(readFileSync(latestFile, 'utf8')), { status: 'complete' }, name)
      assert.deepEqual(lines, [], name)
    }
  })

  test('passes its start time to the child, which counts its limit from it', async () => {
    const latestFile = join(dir, 'env.latest.json')
    const entry = join(dir, 'env.mjs')
    writeFileSync(entry, `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(latestFile)}, JSON.stringify({ startedAt: process.env.BENCH_STARTED_AT }))`)
    const code = await supervise({ entry, latestFile, execArgv: [], startedAt: 1_234_567 })
    assert.equal(code, 0)
    assert.deepEqual(JSON.parse(readFileSync(latestFile, 'utf8')), { startedAt: '1234567' })
  })
})
