import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { TestClient } from '../helpers/stack.ts'
import { freePort } from '../helpers/free-port.ts'
import { prepareDevTemplate } from '../helpers/pglite-template.ts'

/** The two commands a new developer runs: `npm run dev` and `npm run token`, as child processes. */

const root = new URL('../..', import.meta.url).pathname
// The migrated template a fresh DATA_DIR is copied from, made once (npm test makes it before any file).
before(() => prepareDevTemplate())
const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

function tsx(script: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { ...process.env, ...env } })
}

test('npm run dev starts the stack, npm run token mints a working token, SIGTERM stops it cleanly', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainer-chat-dev-'))
  dirs.push(dataDir)
  const env = {
    // The embedded database under DATA_DIR, as a fresh machine gets it, also when the suite runs on a server.
    DATABASE_URL: undefined,
    DATA_DIR: dataDir,
    HTTP_PORT: String(await freePort()),
    WS_PORT: String(await freePort()),
    AWS_PORT: String(await freePort()),
    LOG_LEVEL: 'error',
  }

  // A token minted before the stack ever ran (the signing key is created in DATA_DIR on demand),
  // valid for a working day.
  const minted = spawnSync(process.execPath, ['--import', 'tsx', 'local/token-cli.ts', 'user1@example.com', '--ttl', '8h'], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  })
  assert.equal(minted.status, 0, minted.stderr)
  const token = minted.stdout.trim().split('\n').at(-1) as string
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { iat: number; exp: number }
  assert.equal(claims.exp - claims.iat, 8 * 3600)

  const dev = tsx('local/dev.ts', { ...env, LOG_LEVEL: 'info' })
  let output = ''
  dev.stdout.on('data', (chunk) => (output += chunk))
  dev.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => dev.on('exit', (code) => resolve(code)))
  try {
    // A bound for a stack that never comes up, not a measurement: a fresh DATA_DIR runs initdb,
    // which takes a minute or more on a machine whose cores are busy with other work.
    const deadline = Date.now() + 300_000
    while (!output.includes('local stack is up')) {
      if (Date.now() > deadline || dev.exitCode !== null) assert.fail(`the stack did not start:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${env.HTTP_PORT}`))
    assert.match(output, new RegExp(`ws://127\\.0\\.0\\.1:${env.WS_PORT}`))
    // Start-up says its progress and how long it took to be healthy.
    assert.match(output, /database embedded PGlite in .*pgdata opened/)
    // A fresh DATA_DIR starts from the migrated template (made first when the migrations changed).
    assert.match(output, /fresh DATA_DIR: database copied from the migrated template/)
    assert.match(output, /migrations: up to date/)
    assert.match(output, /demo data seeded/)
    assert.match(output, /healthy after \d+\.\d s/)
    // The one-liners carry the overridden settings, so they work as printed.
    const tryIt = output.split('\n').find((line) => line.startsWith('Try it:')) ?? ''
    assert.ok(tryIt.includes(`npx --yes wscat -c "ws://127.0.0.1:${env.WS_PORT}/local?token=$(DATA_DIR=${dataDir} HTTP_PORT=${env.HTTP_PORT} npm run -s token -- user1@example.com | tail -1)"`), tryIt)
    const printed = spawnSync('bash', ['-c', /\$\((.*) \| tail -1\)/.exec(tryIt)?.[1] ?? 'false'], { cwd: root, encoding: 'utf8', env: { ...process.env, DATA_DIR: undefined, HTTP_PORT: undefined } })
    const printedToken = printed.stdout.trim().split('\n').at(-1) as string
    assert.equal(((await (await fetch(`http://127.0.0.1:${env.HTTP_PORT}/me`, { headers: { authorization: `Bearer ${printedToken}` } })).json()) as { email: string }).email, 'user1@example.com', printed.stderr)

    const health = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/health`)
    assert.equal(health.status, 200)
    const me = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/me`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(((await me.json()) as { email: string }).email, 'user1@example.com')
    const client = await TestClient.open(`ws://127.0.0.1:${env.WS_PORT}/local`, token)
    client.close()
  } finally {
    dev.kill('SIGTERM')
  }
  assert.equal(await exited, 0, output)
  assert.match(output, /stopped cleanly/)
})
