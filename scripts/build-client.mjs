#!/usr/bin/env node
// npm run build:client: the SDK as one ESM file (client/dist/index.js) with type declarations,
// and its size minified + gzipped. Platform "neutral": a Node built-in anywhere fails the build.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const root = fileURLToPath(new URL('..', import.meta.url))
export const SIZE_LIMIT_BYTES = 15 * 1024

/** Bundles the SDK; returns the minified, gzipped size and the modules that went in. */
export async function bundleClient({ write = false, minify = true } = {}) {
  const result = await build({
    entryPoints: [join(root, 'client/src/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2020',
    minify,
    write,
    outfile: join(root, 'client/dist/index.js'),
    metafile: true,
    logLevel: 'silent',
  })
  const code = result.outputFiles?.[0]?.contents ?? new Uint8Array()
  return { bytes: code.length, gzipped: gzipSync(code, { level: 9 }).length, inputs: Object.keys(result.metafile.inputs), code }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await bundleClient({ write: true, minify: false })
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'client')], { stdio: 'inherit' })
  // Declarations name their siblings as the source does ('./client.ts'); published, they are '.js'.
  const dist = join(root, 'client/dist')
  for (const name of readdirSync(dist).filter((file) => file.endsWith('.d.ts'))) {
    const path = join(dist, name)
    writeFileSync(path, readFileSync(path, 'utf8').replace(/(from '\.\/[\w-]+)\.ts'/g, "$1.js'"))
  }
  const { bytes, gzipped, inputs } = await bundleClient()
  console.log(`client/dist/index.js: ${inputs.length} modules; minified ${bytes} B, minified + gzipped ${gzipped} B (limit ${SIZE_LIMIT_BYTES} B)`)
  if (gzipped > SIZE_LIMIT_BYTES) process.exit(1)
}
