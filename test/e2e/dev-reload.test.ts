import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { TestClient } from '../helpers/stack.ts'
import { freePort } from '../helpers/free-port.ts'
import { prepareDevTemplate } from '../helpers/pglite-template.ts'

/**
 * Reload on change (issue #16 item 3): `npm run dev` in a copy of the project; editing a handler
 * takes effect on the WebSocket connection that was already open, the data stays, and a broken
 * edit keeps the previous code running.
 */

const root = new URL('../..', import.meta.url).pathname
// The migrated template a fresh DATA_DIR is copied from, made once (npm test makes it before any file).
before(() => prepareDevTemplate())
let copy: string
after(async () => {
  if (copy) await rm(copy, { recursive: true, force: true })
})

test('editing a handler reloads it: open connections and data are kept, a broken edit keeps the old code', async () => {
  copy = await mkdtemp(join(tmpdir(), 'trainer-chat-reload-'))
  // What `npm run dev` loads: the handlers and the stack, and the console it serves (built, sources hashed).
  for (const entry of ['lambdas', 'local', 'migrations', 'scripts', 'console', 'package.json', 'package-lock.json', 'tsconfig.json']) {
    await cp(join(root, entry), join(copy, entry), { recursive: true, filter: (source) => !source.includes('node_modules') })
  }
  await symlink(join(root, 'node_modules'), join(copy, 'node_modules'))
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATA_DIR: join(copy, '.data'),
    HTTP_PORT: String(await freePort()),
    WS_PORT: String(await freePort()),
    AWS_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  }
  delete env.DATABASE_URL
  const dev = spawn(process.execPath, ['--import', 'tsx', 'local/dev.ts'], { cwd: copy, env: env as NodeJS.ProcessEnv })
  let output = ''
  dev.stdout.on('data', (chunk) => (output += chunk))
  dev.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => dev.on('exit', resolve))
  const waitFor = async (pattern: RegExp, from = 0) => {
    const deadline = Date.now() + 240_000
    while (!pattern.test(output.slice(from))) {
      if (Date.now() > deadline || dev.exitCode !== null) assert.fail(`waited for ${pattern}:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  try {
    await waitFor(/local stack is up/)
    const minted = spawnSync(process.execPath, ['--import', 'tsx', 'local/token-cli.ts', 'user1@example.com'], { cwd: copy, env: env as NodeJS.ProcessEnv, encoding: 'utf8' })
    const token = minted.stdout.trim().split('\n').at(-1) as string
    const api = `http://127.0.0.1:${env.HTTP_PORT}`
    const conversationId = ((await (await fetch(`${api}/conversations`, { headers: { authorization: `Bearer ${token}` } })).json()) as { conversations: Array<{ id: string }> })
      .conversations[0]?.id as string
    const client = await TestClient.open(`ws://127.0.0.1:${env.WS_PORT}/local`, token)
    const ack = await client.request({ action: 'sendMessage', conversationId, clientMessageId: 'before-reload', body: 'sent before the reload' })
    assert.equal(ack.type, 'newMessage')
    client.send('not json')
    assert.equal((await client.nextOfType('error')).message, 'Frame is not valid JSON')

    // Edit a handler module, as a developer would.
    const routeFile = join(copy, 'lambdas/handlers/ws-default.ts')
    const original = await readFile(routeFile, 'utf8')
    let mark = output.length
    await writeFile(routeFile, original.replace("'Frame is not valid JSON'", "'Frame is not valid JSON (edited)'"))
    await waitFor(/reloaded the handlers \(lambdas\/handlers\/ws-default\.ts\)/, mark)

    client.send('not json')
    assert.equal((await client.nextOfType('error')).message, 'Frame is not valid JSON (edited)', 'the same connection runs the new code')
    assert.equal(client.closeCode, undefined, 'the connection stayed open')
    const history = await client.request({ action: 'joinConversation', conversationId })
    assert.ok(history.messages.some((message: { clientMessageId: string }) => message.clientMessageId === 'before-reload'), 'the data is kept')

    // A broken edit is reported in one line and the previous code keeps serving.
    mark = output.length
    await writeFile(routeFile, `${original}\nexport const broken = (\n`)
    await waitFor(/reload failed \(lambdas\/handlers\/ws-default\.ts\), still running the previous code/, mark)
    client.send('not json')
    assert.equal((await client.nextOfType('error')).message, 'Frame is not valid JSON (edited)')
    client.close()
  } finally {
    dev.kill('SIGTERM')
  }
  assert.equal(await exited, 0, output)
})
