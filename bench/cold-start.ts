import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'
import type { Checks, Row, Section } from './report.ts'
import { bytes, median, ms, round } from './stats.ts'

/**
 * Figure 5: every Lambda entry point in lambdas/handlers/ bundled the way it is deployed
 * (esbuild: ESM, node22, minified, everything bundled but Node's builtins), its size, and the
 * time a fresh Node process takes to import it, minus a bare `node -e 0`, median of several
 * rounds run interleaved so every bundle and the baseline see the same machine.
 */

export interface ColdStartPlan {
  rounds: number
  /** Rounds stop here even if fewer than `rounds` ran (at least one always runs). */
  timeLimitMs: number
}

export interface BundleResult {
  handler: string
  bytes: number
  gzipBytes: number
  importMs: number
  overBareMs: number
  /** Biggest contributors to the minified output, by package (own code as `lambdas/…`). */
  largestInputs: Array<{ input: string; bytes: number }>
  error?: string
}

export interface ColdStartResult {
  /** Rounds run: each bundle and the baseline were timed this many times. */
  rounds: number
  bareNodeMs: number
  /** `node empty.mjs`: what loading any ES module adds to a bare start, for reference. */
  emptyModuleMs: number
  bundles: BundleResult[]
  skipped: string[]
}

const SIZE_TARGET_BYTES = 700_000
const IMPORT_TARGET_MS = 50
/** Referenced behind a lazy `require` that never runs (pg's native binding). */
const OPTIONAL_EXTERNALS = new Set(['pg-native'])
const HANDLERS_DIR = join(import.meta.dirname, '..', 'lambdas', 'handlers')
const ROOT = join(import.meta.dirname, '..')

/** The settings lib/bundling.json gives the CDK and scripts/build.mjs, restated here so the bench stands alone. */
const BUILD_OPTIONS: esbuild.BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  // PGlite must never ship; pg-native is pg's optional native binding, not installed and never loaded.
  external: ['@electric-sql/pglite', '@electric-sql/pglite/*', 'pg-native'],
  metafile: true,
  logLevel: 'silent',
  absWorkingDir: ROOT,
}

export async function measureColdStart(plan: ColdStartPlan, checks: Checks): Promise<Section<ColdStartResult>> {
  const outdir = await mkdtemp(join(tmpdir(), 'trainer-chat-bundles-'))
  try {
    const sources = (await readdir(HANDLERS_DIR)).filter((name) => name.endsWith('.ts')).sort()
    const bundles: Array<BundleResult & { file: string }> = []
    const skipped: string[] = []
    for (const [index, built] of (await Promise.all(sources.map((source) => bundle(source, outdir)))).entries()) {
      if (built === 'not an entry point') skipped.push(basename(sources[index] as string, '.ts'))
      else bundles.push(built)
    }
    const emptyModule = join(outdir, 'empty.mjs')
    await writeFile(emptyModule, '')

    // Children run without the bench's loaders or NODE_OPTIONS.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS'))
    const time = (args: string[]): { ms: number; error?: string } => {
      const started = performance.now()
      const child = spawnSync(process.execPath, args, { env, cwd: outdir, encoding: 'utf8', timeout: 30_000 })
      const elapsed = performance.now() - started
      if (child.status !== 0) return { ms: elapsed, error: `exit ${child.status ?? child.signal}: ${(child.stderr ?? '').slice(0, 300)}` }
      return { ms: elapsed }
    }
    const samples = new Map<string, number[]>()
    const jobs: Array<{ name: string; args: string[] }> = [
      { name: 'bare', args: ['-e', '0'] },
      { name: 'empty', args: [emptyModule] },
      ...bundles.filter((b) => !b.error).map((b) => ({ name: b.handler, args: [b.file] })),
    ]
    const deadline = Date.now() + plan.timeLimitMs
    for (let round = 0; round < plan.rounds && (round === 0 || Date.now() < deadline); round++) {
      for (const job of round % 2 === 0 ? jobs : [...jobs].reverse()) {
        const run = time(job.args)
        const found = bundles.find((b) => b.handler === job.name)
        if (run.error && found) found.error = run.error
        samples.set(job.name, [...(samples.get(job.name) ?? []), run.ms])
      }
    }
    const bare = median(samples.get('bare') ?? [])
    const results: BundleResult[] = bundles.map(({ file: _file, ...b }) => {
      const importMs = median(samples.get(b.handler) ?? [])
      return { ...b, importMs: round(importMs, 1), overBareMs: round(importMs - bare, 1) }
    })
    for (const b of results) if (b.error) checks.fail(`cold start: ${b.handler}: ${b.error}`)
    const data: ColdStartResult = {
      rounds: samples.get('bare')?.length ?? 0,
      bareNodeMs: round(bare, 1),
      emptyModuleMs: round(median(samples.get('empty') ?? []), 1),
      bundles: results,
      skipped,
    }
    return { rows: rows(data), data }
  } finally {
    await rm(outdir, { recursive: true, force: true })
  }
}

async function bundle(source: string, outdir: string): Promise<(BundleResult & { file: string }) | 'not an entry point'> {
  const handler = basename(source, '.ts')
  const file = join(outdir, handler, 'index.mjs')
  const failed = (error: string) => ({ handler, file, bytes: 0, gzipBytes: 0, importMs: Number.NaN, overBareMs: Number.NaN, largestInputs: [], error })
  let result: esbuild.BuildResult<{ metafile: true }>
  try {
    result = (await esbuild.build({ ...BUILD_OPTIONS, entryPoints: [join(HANDLERS_DIR, source)], outfile: file })) as esbuild.BuildResult<{ metafile: true }>
  } catch (error) {
    const errors = (error as { errors?: esbuild.Message[] }).errors
    return failed(errors?.map((e) => `${e.location?.file ?? ''}:${e.location?.line ?? ''} ${e.text}`).join('; ') ?? String(error))
  }
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined)
  if (!output) return failed('esbuild produced no entry output')
  // An entry point is a module Lambda can call: it exports `handler` (ws-route.ts and http-route.ts are helpers).
  if (!output.exports.includes('handler')) return 'not an entry point'

  const externals = output.imports.filter((i) => i.external && !isBuiltin(i.path) && !OPTIONAL_EXTERNALS.has(i.path)).map((i) => i.path)
  const code = await readFile(file)
  return {
    handler,
    file,
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    importMs: Number.NaN,
    overBareMs: Number.NaN,
    largestInputs: largestInputs(output.inputs),
    ...(externals.length > 0 ? { error: `imports non-builtin modules at run time: ${[...new Set(externals)].join(', ')}` } : {}),
  }
}

function isBuiltin(path: string): boolean {
  return path.startsWith('node:') || builtinModules.includes(path) || builtinModules.includes(path.split('/')[0] as string)
}

/** Output bytes grouped by npm package (or our own folder), largest first. */
function largestInputs(inputs: Record<string, { bytesInOutput: number }>): Array<{ input: string; bytes: number }> {
  const totals = new Map<string, number>()
  for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
    // Paths are relative to ROOT (absWorkingDir); a package may be nested in another's node_modules.
    const match = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
    const key = match ? (match[1] as string) : path.split('/').slice(0, 2).join('/')
    totals.set(key, (totals.get(key) ?? 0) + bytesInOutput)
  }
  return [...totals]
    .map(([input, size]) => ({ input, bytes: size }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 8)
}

function rows(data: ColdStartResult): Row[] {
  return data.bundles.map((b) => {
    const sizeMet = b.bytes <= SIZE_TARGET_BYTES
    const timeMet = b.overBareMs <= IMPORT_TARGET_MS
    const met = !b.error && sizeMet && timeMet
    const largest = b.largestInputs
      .slice(0, 5)
      .map((input) => `${input.input} ${bytes(input.bytes)}`)
      .join(', ')
    return {
      figure: '5 Cold start',
      case: b.handler,
      measured: b.error
        ? `failed: ${b.error.slice(0, 200)}`
        : `${bytes(b.bytes)} (gzip ${bytes(b.gzipBytes)}); import ${ms(b.importMs)} vs node -e 0 ${ms(data.bareNodeMs)} (median of ${data.rounds})` +
          (met ? '' : `; largest: ${largest}`),
      result: b.error ? 'n/a' : `${bytes(b.bytes)}, +${ms(b.overBareMs)}`,
      target: `≤ ${bytes(SIZE_TARGET_BYTES)}, ≤ +${IMPORT_TARGET_MS} ms`,
      met,
    }
  })
}
