// npm run openapi: writes the OpenAPI document of every REST route to docs/openapi.json.
// CI regenerates it and fails when the committed file differs (test/integration/openapi.test.ts).
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { restApiDocument } from '../lambdas/http/openapi.ts'

export const OPENAPI_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'openapi.json')

/** The exact bytes written to docs/openapi.json (stable key order, trailing newline). */
export function renderOpenApi(): string {
  return `${JSON.stringify(restApiDocument(), null, 2)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await mkdir(dirname(OPENAPI_FILE), { recursive: true })
  await writeFile(OPENAPI_FILE, renderOpenApi())
  console.log(`wrote ${OPENAPI_FILE}`)
}
