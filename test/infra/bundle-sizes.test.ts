import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { before, test } from 'node:test'
import * as esbuild from 'esbuild'
import { FUNCTIONS } from '../../lib/functions.ts'

/**
 * Issue 12 item 5, guarded: every deployed handler bundled with the settings the CDK uses
 * (lib/bundling.json), minified. WebSocket handlers ≤ 400 KB, HTTP handlers ≤ 600 KB, and none
 * carries the AWS SDK: PostToConnection and the RDS token are signed by sigv4.ts, S3 and SNS by
 * the SDK's signer alone (@smithy/signature-v4 and the part of @smithy/core it uses), and a Lambda
 * reads its role's credentials from its environment, so no SSO / STS credential provider either.
 */

const ROOT = join(import.meta.dirname, '..', '..')
const KB = 1000

/** The WebSocket handlers that sign S3 or SNS requests (attachments, push). */
const USES_S3_OR_SNS = new Set(['ws-send-message', 'ws-join-conversation', 'ws-edit-message'])

/** The only @smithy packages a handler may hold: the signer and what it imports. */
const SIGNER = ['node_modules/@smithy/signature-v4/', 'node_modules/@smithy/core/']

const limitOf = (handler: string): number | undefined =>
  handler.startsWith('ws-') ? 400 * KB : handler.startsWith('http-') ? 600 * KB : undefined

let outputs: Map<string, { bytes: number; inputs: string[] }>

before(async () => {
  const settings = JSON.parse(await readFile(join(ROOT, 'lib/bundling.json'), 'utf8'))
  const handlers = FUNCTIONS.map((fn) => fn.handler)
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(handlers.map((handler) => [handler, join(ROOT, 'lambdas/handlers', `${handler}.ts`)])),
    outdir: join(ROOT, 'node_modules/.cache/trainer-chat-bundle-sizes'),
    write: false,
    bundle: true,
    platform: settings.platform,
    target: settings.target,
    format: settings.format,
    outExtension: { '.js': settings.outExtension },
    mainFields: settings.mainFields,
    minify: true,
    banner: { js: settings.banner },
    external: settings.external,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  })
  outputs = new Map()
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (!output.entryPoint || file.endsWith('.map')) continue
    const handler = file.slice(file.lastIndexOf('/') + 1).replace(/\.m?js$/, '')
    outputs.set(handler, { bytes: output.bytes, inputs: Object.keys(output.inputs) })
  }
})

test('every WebSocket handler bundle is within 400 KB and every HTTP handler within 600 KB', () => {
  const over: string[] = []
  for (const fn of FUNCTIONS) {
    const output = outputs.get(fn.handler)
    assert.ok(output, `${fn.handler} was bundled`)
    const limit = limitOf(fn.handler)
    if (limit !== undefined && output.bytes > limit) over.push(`${fn.handler}: ${(output.bytes / KB).toFixed(0)} KB > ${limit / KB} KB`)
  }
  assert.deepEqual(over, [])
})

test('no handler bundle holds the AWS SDK (its clients, its credential chain with the SSO and STS providers)', () => {
  const withSdk = FUNCTIONS.map((fn) => ({ handler: fn.handler, sdk: outputs.get(fn.handler)?.inputs.filter((input) => input.includes('node_modules/@aws-sdk/')) ?? [] }))
    .filter(({ sdk }) => sdk.length > 0)
    .map(({ handler, sdk }) => `${handler}: ${[...new Set(sdk.map(packageOf))].join(', ')}`)
  assert.deepEqual(withSdk, [])
})

test('of the SDK’s building blocks, a handler holds the SigV4 signer at most', () => {
  const beyond = FUNCTIONS.map((fn) => ({
    handler: fn.handler,
    smithy: outputs.get(fn.handler)?.inputs.filter((input) => input.includes('node_modules/@smithy/') && !SIGNER.some((allowed) => input.includes(allowed))) ?? [],
  }))
    .filter(({ smithy }) => smithy.length > 0)
    .map(({ handler, smithy }) => `${handler}: ${[...new Set(smithy.map(packageOf))].join(', ')}`)
  assert.deepEqual(beyond, [])
})

test('the WebSocket handlers that never touch a file or a push hold no signer but sigv4.ts', () => {
  const withSigner = FUNCTIONS.filter((fn) => fn.handler.startsWith('ws-') && !USES_S3_OR_SNS.has(fn.handler))
    .filter((fn) => outputs.get(fn.handler)?.inputs.some((input) => input.includes('node_modules/@smithy/')))
    .map((fn) => fn.handler)
  assert.deepEqual(withSigner, [])
})

function packageOf(input: string): string {
  return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input
}
