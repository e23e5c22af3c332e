import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { startAwsEdge, type AwsEdge } from '@trainer-chat/aws-edge'

/**
 * `npm run deploy:local` (issue #16 item 8) says LocalStack's paid tier is needed, and deploys
 * only to something that really is a LocalStack able to take it: never to the dev stack's own
 * AWS edge, which also answers /_localstack/health. A fake `cdklocal` on PATH records whether
 * the deploy was attempted.
 */

const root = new URL('../..', import.meta.url).pathname
let dir: string
let edge: AwsEdge
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trainer-chat-deploy-'))
  await writeFile(join(dir, 'cdklocal'), `#!/bin/sh\necho "$@" >> "${join(dir, 'cdklocal.log')}"\n`)
  await chmod(join(dir, 'cdklocal'), 0o755)
  edge = await startAwsEdge({ port: 0, dataDir: join(dir, 'edge') })
})
after(async () => {
  await edge.stop()
  await rm(dir, { recursive: true, force: true })
})

async function fakeLocalstack(edition: string): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    const body =
      request.url === '/_localstack/health'
        ? { services: { apigateway: 'available', s3: 'running' }, edition, version: '4.9.0' }
        : request.url === '/_localstack/info'
          ? { version: '4.9.0', edition, is_license_activated: edition !== 'community' }
          : undefined
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

async function deployLocal(endpoint: string): Promise<{ code: number | null; output: string; deployed: string }> {
  const child = spawn('bash', ['scripts/deploy-local.sh'], {
    cwd: root,
    env: { ...process.env, AWS_ENDPOINT_URL: endpoint, PATH: `${dir}:${process.env.PATH ?? ''}` },
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  const deployed = await readFile(join(dir, 'cdklocal.log'), 'utf8').catch(() => '')
  await rm(join(dir, 'cdklocal.log'), { force: true })
  return { code, output, deployed }
}

test('it says up front that the paid tier and an auth token are needed', async () => {
  const { output } = await deployLocal(edge.url)
  assert.match(output, /LocalStack paid tier and its auth token \(LOCALSTACK_AUTH_TOKEN\)/)
})

test('the dev stack’s own AWS edge is refused: it answers /_localstack/health but is not LocalStack', async () => {
  const { code, output, deployed } = await deployLocal(edge.url)
  assert.equal(code, 1)
  assert.match(output, /is not LocalStack/)
  assert.equal(deployed, '', 'nothing was deployed')
})

test('LocalStack community edition is refused with the reason', async () => {
  const { url, server } = await fakeLocalstack('community')
  try {
    const { code, output, deployed } = await deployLocal(url)
    assert.equal(code, 1)
    assert.match(output, /community edition.*paid tier/)
    assert.equal(deployed, '')
  } finally {
    server.close()
  }
})

test('a paid LocalStack gets the bootstrap and the deploy', async () => {
  const { url, server } = await fakeLocalstack('pro')
  try {
    const { code, output, deployed } = await deployLocal(url)
    assert.equal(code, 0, output)
    assert.match(deployed, /^bootstrap -c stage=dev\ndeploy --all -c stage=dev/)
  } finally {
    server.close()
  }
})

test('nothing answering is one clear line', async () => {
  const { url, server } = await fakeLocalstack('pro')
  server.close()
  const { code, output } = await deployLocal(url)
  assert.equal(code, 1)
  assert.match(output, /nothing answers at/)
})
