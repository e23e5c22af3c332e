import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { ERROR_STATUS } from '../../lambdas/core/errors.ts'

/** Docs match the wire (issue #16 item 7): every error code the server can send is in the README. */
test('the README lists every error code with its status', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    assert.match(readme, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} (${status}) is missing from the README's error table`)
  }
})
