#!/usr/bin/env node
// npm run build: bundles every Lambda handler the stacks deploy, with the same esbuild settings
// the CDK uses (lib/bundling.json), into dist/<handler>/index.mjs, then prints each bundle's size.
// Fails when a handler does not build or when a bundle pulls in code that must never ship
// (PGlite, local/, test/, ...): that is what "keep dev-only code out" means in practice.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const settings = JSON.parse(await readFile(join(root, 'lib/bundling.json'), 'utf8'))

/** The handler list lives in lib/functions.ts; compile that one dependency-free module on the fly. */
async function deployedHandlers() {
  const source = await readFile(join(root, 'lib/functions.ts'), 'utf8')
  const { code } = await esbuild.transform(source, { loader: 'ts', format: 'esm' })
  const routes = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)
  return routes.FUNCTIONS.map((fn) => fn.handler)
}

async function bundle(handler) {
  const entry = join(root, 'lambdas/handlers', `${handler}.ts`)
  if (!existsSync(entry)) return { handler, error: `missing ${relative(root, entry)}` }
  const outdir = join(root, 'dist', handler)
  await rm(outdir, { recursive: true, force: true })
  try {
    const result = await esbuild.build({
      entryPoints: { index: entry },
      outdir,
      bundle: true,
      platform: settings.platform,
      target: settings.target,
      format: settings.format,
      outExtension: { '.js': settings.outExtension },
      mainFields: settings.mainFields,
      minify: settings.minify,
      sourcemap: settings.sourcemap,
      sourcesContent: settings.sourcesContent,
      banner: { js: settings.banner },
      external: settings.external,
      metafile: true,
      logLevel: 'silent',
    })
    const forbidden = Object.keys(result.metafile.inputs).filter((input) =>
      settings.forbiddenInputs.some((prefix) => input.startsWith(prefix) || input.includes(`/${prefix}`)),
    )
    if (forbidden.length > 0) return { handler, error: `bundles dev-only code: ${forbidden.slice(0, 5).join(', ')}` }
    await writeFile(join(outdir, 'meta.json'), JSON.stringify(result.metafile))
    const code = await readFile(join(outdir, `index${settings.outExtension}`))
    return { handler, bytes: code.length, gzipped: gzipSync(code, { level: 9 }).length }
  } catch (error) {
    const message = error?.errors?.map((e) => `${e.location?.file ?? ''}:${e.location?.line ?? ''} ${e.text}`).join('; ')
    return { handler, error: message || String(error) }
  }
}

const handlers = await deployedHandlers()
await mkdir(join(root, 'dist'), { recursive: true })
const results = await Promise.all(handlers.map(bundle))

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`
const rows = results.map((r) =>
  r.error ? [r.handler, 'FAILED', r.error] : [r.handler, `${r.bytes.toLocaleString('en-US')} B (${kib(r.bytes)})`, `${r.gzipped.toLocaleString('en-US')} B (${kib(r.gzipped)})`],
)
const header = ['handler', 'index.mjs', 'gzipped']
const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)))
const line = (cells) => `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`
console.log(line(header))
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
for (const row of rows) console.log(line(row))

const failed = results.filter((r) => r.error)
if (failed.length > 0) {
  console.error(`\n${failed.length} of ${results.length} handler(s) failed to bundle.`)
  process.exit(1)
}
console.log(`\n${results.length} handlers bundled into dist/ (target ${settings.target}, ${settings.format}, minified, source maps ${settings.sourcemap}).`)
