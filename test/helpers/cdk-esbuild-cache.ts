import childProcess, { type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'

/**
 * CDK's NodejsFunction bundles each handler by running `npx --no-install esbuild --bundle …` once
 * per function (16 of them), every synth: on a loaded 2-core machine that was two thirds of
 * test/infra/stacks.test.ts (npx's own start-up several seconds a call, esbuild the rest). This
 * makes those calls (in this process only) run the esbuild binary directly, and keeps each
 * bundle under node_modules/.cache/trainer-chat-tests/cdk-bundles, keyed by esbuild's version
 * and the exact arguments CDK passed (its temporary output directory left out). A kept bundle is
 * reused only while every input esbuild read for it (its metafile: our sources and the
 * node_modules files it bundled) has the same content, so a change to anything a handler bundles
 * builds it again, and a handler that does not bundle still fails the synth.
 *
 * The arguments are CDK's own (from lib/constructs/chat-function.ts), so what is checked is the
 * bundling CDK would do; only npx is left out, and the work when nothing changed.
 */

const ROOT = join(import.meta.dirname, '..', '..')
const CACHE = join(ROOT, 'node_modules', '.cache', 'trainer-chat-tests', 'cdk-bundles')
const require = createRequire(import.meta.url)
const ESBUILD = join(dirname(require.resolve('esbuild/package.json')), 'bin', 'esbuild')
const ESBUILD_VERSION = (JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')) as { version: string }).version

/** Content hashes of files, memoized for this process (the bundles share most of their inputs). */
const fileHashes = new Map<string, string>()
function hashFile(path: string): string {
  let hash = fileHashes.get(path)
  if (hash === undefined) {
    hash = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'missing'
    fileHashes.set(path, hash)
  }
  return hash
}

export interface EsbuildCacheStats {
  reused: number
  built: number
}

let installed: EsbuildCacheStats | undefined

/** Installs the interception (once per process) and returns its running counts. */
export function cacheCdkEsbuild(): EsbuildCacheStats {
  if (installed) return installed
  const stats: EsbuildCacheStats = { reused: 0, built: 0 }
  installed = stats
  // CDK calls child_process.spawnSync through the module object at call time, so replacing the
  // property is seen by it (node:child_process's default export is that same object).
  const original = childProcess.spawnSync
  const patched = function (this: unknown, command: string, args?: readonly string[], options?: SpawnSyncOptions) {
    if (command === 'npx' && args?.[0] === '--no-install' && args[1] === 'esbuild' && args[2] === '--bundle') {
      return bundle(args.slice(2), options ?? {}, original, stats)
    }
    return (original as (...rest: unknown[]) => unknown).apply(this, [...arguments])
  }
  childProcess.spawnSync = patched as typeof childProcess.spawnSync
  return stats
}

function bundle(args: string[], options: SpawnSyncOptions, spawnSync: typeof childProcess.spawnSync, stats: EsbuildCacheStats): SpawnSyncReturns<Buffer> {
  const outfileArg = args.find((arg) => arg.startsWith('--outfile='))
  if (!outfileArg) return spawnSync(ESBUILD, args, options) as SpawnSyncReturns<Buffer>
  const outfile = resolve(String(options.cwd ?? ROOT), outfileArg.slice('--outfile='.length))
  const outdir = dirname(outfile)
  const key = createHash('sha256')
    .update(ESBUILD_VERSION)
    .update('\0')
    .update(String(options.cwd ?? ''))
    .update('\0')
    .update(args.map((arg) => (arg === outfileArg ? `--outfile=<out>/${outfile.slice(outdir.length + 1)}` : arg)).join('\0'))
    .digest('hex')
    .slice(0, 32)
  const entry = join(CACHE, key)
  const inputsFile = join(entry, 'inputs.json')
  if (existsSync(inputsFile)) {
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8')) as Array<[string, string]>
    if (inputs.every(([path, hash]) => hashFile(path) === hash)) {
      mkdirSync(outdir, { recursive: true })
      cpSync(join(entry, 'out'), outdir, { recursive: true })
      stats.reused++
      return { pid: 0, output: [], stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), status: 0, signal: null }
    }
  }
  // The metafile goes beside the output directory, not in it: the asset is the directory's content.
  const metafile = `${outdir}.${randomUUID()}.meta.json`
  const result = spawnSync(ESBUILD, [...args, `--metafile=${metafile}`], options) as SpawnSyncReturns<Buffer>
  if (result.status !== 0 || result.error) return result
  stats.built++
  let building: string | undefined
  try {
    const cwd = String(options.cwd ?? ROOT)
    const meta = JSON.parse(readFileSync(metafile, 'utf8')) as { inputs: Record<string, unknown> }
    // The inputs esbuild read, and what else decides how they resolve (the lockfile, the tsconfig).
    const paths = [...Object.keys(meta.inputs).map((input) => resolve(cwd, input)), join(ROOT, 'package-lock.json'), join(ROOT, 'tsconfig.json')]
    building = `${entry}.${process.pid}.${randomUUID()}`
    mkdirSync(join(building, 'out'), { recursive: true })
    for (const name of readdirSync(outdir)) cpSync(join(outdir, name), join(building, 'out', name), { recursive: true })
    writeFileSync(join(building, 'inputs.json'), JSON.stringify(paths.map((path) => [path, hashFile(path)])))
    rmSync(entry, { recursive: true, force: true })
    renameSync(building, entry)
  } catch {
    // best effort (another process may have kept the same bundle first): the next synth builds it again
    if (building) rmSync(building, { recursive: true, force: true })
  } finally {
    rmSync(metafile, { force: true })
  }
  return result
}
