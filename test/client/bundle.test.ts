import assert from 'node:assert/strict'
import { test } from 'node:test'
// @ts-expect-error: a plain .mjs script, no declarations
import { bundleClient, SIZE_LIMIT_BYTES } from '../../scripts/build-client.mjs'

/** The SDK ships as one ESM file for browsers, React Native and Node: small, and with nothing of Node's or the server's in it. */

test('the SDK bundles for a neutral platform, with only its own modules, in at most 15 KB minified and gzipped', async () => {
  const { gzipped, inputs } = (await bundleClient()) as { gzipped: number; inputs: string[] }

  assert.ok(gzipped <= SIZE_LIMIT_BYTES, `${gzipped} B gzipped`)
  assert.deepEqual(inputs.filter((input) => !input.startsWith('client/src/')), [], 'no server code, no zod, no Node built-ins')
})
