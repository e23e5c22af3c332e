#!/usr/bin/env node
// Builds the moderation console (console/ → console/dist) when its sources changed since the last
// build, and says so; otherwise does nothing. "Changed" is a hash of every source file and the
// lockfile, stored in dist/.source-hash, so a checkout, a branch switch or a dependency bump all
// count, and timestamps do not. Used by `npm run dev`, `npm test`, CDK synth and `npm run build:console`.
//   node scripts/build-console.mjs [--force]
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const consoleDir = join(root, 'console')
const dist = join(consoleDir, 'dist')
const stampFile = join(dist, '.source-hash')

function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'dist') return []
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : [path]
  })
}

export function consoleSourceHash() {
  const hash = createHash('sha256')
  for (const file of [...sources(consoleDir), join(root, 'package-lock.json')].sort()) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0')
  }
  return hash.digest('hex')
}

export function buildConsole({ force = false, log = (line) => console.error(line) } = {}) {
  const hash = consoleSourceHash()
  const built = existsSync(stampFile) && existsSync(join(dist, 'index.html')) ? readFileSync(stampFile, 'utf8').trim() : ''
  if (!force && built === hash) return { built: false }
  log(built ? 'console sources changed since the last build: building console/ (vite build)…' : 'console not built yet: building console/ (vite build)…')
  const started = Date.now()
  // npm may install vite in console/node_modules or hoist it: resolve it as the workspace would.
  const vite = join(dirname(createRequire(join(consoleDir, 'package.json')).resolve('vite/package.json')), 'bin', 'vite.js')
  const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: consoleDir, stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.status !== 0) throw new Error(`console build failed (exit ${result.status ?? result.signal})`)
  writeFileSync(stampFile, `${hash}\n`)
  log(`console built in ${((Date.now() - started) / 1000).toFixed(1)} s → console/dist`)
  return { built: true }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { built } = buildConsole({ force: process.argv.includes('--force') })
    if (!built) console.error('console is up to date (console/dist)')
  } catch (error) {
    console.error(error instanceof Error ? error.message : error)
    process.exit(1)
  }
}
