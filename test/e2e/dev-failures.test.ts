import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createServerDatabase } from '../helpers/database.ts'
import { freePort } from '../helpers/free-port.ts'
import { copyTemplate, prepareDevTemplate, templatesEnabled } from '../helpers/pglite-template.ts'

/**
 * Every way `npm run dev` can fail to start is one line naming what to change, a non-zero exit
 * and no stack trace (issue #16 item 4; #11 item 15 for the ports).
 *
 * Each test runs its own `npm run dev` to its exit, with its own ports, DATA_DIR and database, so
 * they run at once: most of a failing start is loading the modules (tsx, the handlers, the AWS
 * edge), which one process after another made the slowest file of the suite (issue #12 item 9).
 */

const root = new URL('../..', import.meta.url).pathname
// The migrated template a fresh DATA_DIR is copied from, made once (npm test makes it before any file).
before(() => prepareDevTemplate())
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const cleanup of cleanups) await cleanup()
})

async function listening(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return (server.address() as { port: number }).port
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trainer-chat-fail-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Runs `npm run dev` (its entry point) to its exit; the stack must not start. */
async function devFails(env: Record<string, string | undefined>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const base: Record<string, string | undefined> = { ...process.env, LOG_LEVEL: 'info', HTTP_PORT: String(await freePort()), WS_PORT: String(await freePort()), AWS_PORT: String(await freePort()) }
  delete base.DATABASE_URL
  const merged = { ...base, ...env }
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key]
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/dev.ts'], { cwd: root, env: merged as NodeJS.ProcessEnv })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, stdout, stderr }
}

/** The failure line, and proof that there is exactly one and no stack trace. */
function oneLine(result: { code: number | null; stderr: string; stdout: string }): string {
  assert.equal(result.code, 1, `exit code; stderr:\n${result.stderr}`)
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace')
  assert.doesNotMatch(result.stdout, /local stack is up/)
  const failures = result.stderr.split('\n').filter((line) => line.startsWith('trainer-chat: '))
  assert.equal(failures.length, 1, result.stderr)
  return failures[0] as string
}

/**
 * The database of the failing-migration case: a table where 0001_initial creates its own. Made
 * before the tests start, not in the test: opening PGlite here runs WASM on this process's event
 * loop for seconds, and the fake server of another test (below) must answer a login meanwhile.
 */
let squatted: { dataDir: string; databaseUrl: string | undefined }
before(async () => {
  const dataDir = await tempDir()
  let databaseUrl: string | undefined
  if (process.env.DATABASE_URL) {
    const server = await createServerDatabase(process.env.DATABASE_URL)
    cleanups.push(() => server.drop())
    databaseUrl = server.url
    const pg = (await import('pg')).default
    const client = new pg.Client({ connectionString: databaseUrl })
    await client.connect()
    await client.query('CREATE TABLE users (squatter int)')
    await client.end()
  } else {
    // A copy of the empty template (initdb done once for the suite) rather than a new
    // database: PGlite's initdb alone took a minute of this file on a loaded machine.
    const pgdata = join(dataDir, 'pgdata')
    if (templatesEnabled) await copyTemplate('empty', pgdata)
    const { PGlite } = await import('@electric-sql/pglite')
    const pglite = new PGlite(pgdata)
    await pglite.exec('CREATE TABLE users (squatter int)')
    await pglite.close()
  }
  squatted = { dataDir, databaseUrl }
})

// Alone, before the others: the start has 2 s (CONNECT_TIMEOUT_MS) to hear this test's fake
// server answer, and a start starved of CPU by its siblings can miss that and say "does not answer".
test('a database that does not exist gives the createdb command to run', async () => {
  // A server that answers every login as PostgreSQL does for an unknown database.
  const server = createServer((socket) => {
    socket.once('data', () => {
      const fields = Buffer.from('SFATAL\0VFATAL\0C3D000\0Mdatabase "nosuchdb" does not exist\0\0')
      const header = Buffer.alloc(5)
      header.write('E', 0)
      header.writeInt32BE(fields.length + 4, 1)
      socket.end(Buffer.concat([header, fields]))
    })
  })
  const port = await listening(server)
  const line = oneLine(await devFails({ DATA_DIR: await tempDir(), DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nosuchdb` }))
  assert.match(line, new RegExp(`database "nosuchdb" does not exist.*createdb -h 127\\.0\\.0\\.1 -p ${port} -U postgres nosuchdb`))
})

// At most four at once: each is a Node process loading the whole stack.
describe('npm run dev refuses to start', { concurrency: 4 }, () => {
  // First: the longest (the start opens the database and runs the first migration).
  test('a failing migration is named with the database’s message', async () => {
    const line = oneLine(await devFails({ DATA_DIR: squatted.dataDir, DATABASE_URL: squatted.databaseUrl }))
    assert.match(line, /migration 0001_initial failed: relation "users" already exists/)
  })

  test('each port in use is named with its variable and its port', async () => {
    const http = await listening(createServer())
    const ws = await listening(createServer())
    const result = await devFails({ DATA_DIR: await tempDir(), HTTP_PORT: String(http), WS_PORT: String(ws) })
    const line = oneLine(result)
    assert.match(line, new RegExp(`port ${http} is already in use \\(HTTP_PORT\\)`))
    assert.match(line, new RegExp(`port ${ws} is already in use \\(WS_PORT\\)`))
    // Said before the stack's modules load (local/dev.ts checks the ports first), not after the whole start.
    assert.doesNotMatch(result.stdout + result.stderr, /modules loaded/)
  })

  test('the AWS edge port in use names AWS_PORT', async () => {
    const aws = await listening(createServer())
    const line = oneLine(await devFails({ DATA_DIR: await tempDir(), AWS_PORT: String(aws) }))
    assert.match(line, new RegExp(`port ${aws} is already in use \\(AWS_PORT\\)`))
  })

  test('a malformed DATABASE_URL says what a good one looks like, not a DNS error', async () => {
    const line = oneLine(await devFails({ DATA_DIR: await tempDir(), DATABASE_URL: 'notaurl' }))
    assert.match(line, /DATABASE_URL is not a URL: expected postgres:\/\//)
  })

  test('a database server that does not answer is named', async () => {
    const port = await freePort()
    const line = oneLine(await devFails({ DATA_DIR: await tempDir(), DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/chat` }))
    assert.match(line, new RegExp(`database server at 127\\.0\\.0\\.1:${port} does not answer`))
  })

  test('a DATA_DIR that cannot be written is named', async () => {
    const file = join(await tempDir(), 'a-file')
    await writeFile(file, 'not a directory')
    const line = oneLine(await devFails({ DATA_DIR: join(file, 'data') }))
    assert.match(line, new RegExp(`DATA_DIR ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/data is not`))
  })

  test('an invalid port setting names the variable', async () => {
    const line = oneLine(await devFails({ DATA_DIR: await tempDir(), WS_PORT: 'three thousand' }))
    assert.match(line, /WS_PORT="three thousand"/)
  })
})
