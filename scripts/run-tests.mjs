#!/usr/bin/env node
// `npm test`: every *.test.ts under test/ through node's test runner (with tsx for TypeScript).
// Files are listed explicitly: on Node 20, `node --test test/` silently finds no .ts files.
// Optional arguments narrow the run to paths containing them: `npm test -- e2e`.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { buildConsole } from './build-console.mjs'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return collect(path)
    return name.endsWith('.test.ts') ? [relative(root, path)] : []
  })
}

const files = collect(join(root, 'test'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort()
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ')}`)
  process.exit(1)
}
// The browser tests drive console/dist, the local stack serves it and CDK deploys it: build it
// once here, before any test process could race to (a no-op when its sources did not change).
buildConsole({ log: (line) => console.log(line) })
console.log(`running ${files.length} test files${process.env.DATABASE_URL ? ' against DATABASE_URL' : ' against embedded PGlite'}`)
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit', env: { LOG_LEVEL: 'error', ...process.env } },
)
process.exit(result.status ?? 1)
