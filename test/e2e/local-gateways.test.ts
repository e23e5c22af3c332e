import assert from 'node:assert/strict'
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi'
import { request } from 'node:http'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import WebSocket from 'ws'
import { createLocalLog } from '../../local/log.ts'
import { MAX_BUFFERED_BYTES } from '../../local/ws-gateway.ts'
import { startTestStack, TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * The local gateways refuse what API Gateway refuses (issue #11 items 6 and 15), and say what
 * they do, one line per request, connection and frame (issue #16 item 1).
 */

const lines: Array<Record<string, unknown>> = []
const logger = createLocalLog({
  level: 'debug',
  pretty: false,
  stream: {
    write(chunk: string) {
      for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      return true
    },
  } as unknown as NodeJS.WritableStream,
})

let stack: TestStack
let management: ApiGatewayManagementApiClient
before(async () => {
  stack = await startTestStack({ logger })
  management = new ApiGatewayManagementApiClient({
    endpoint: stack.ws.managementEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  })
})
after(async () => {
  management.destroy()
  await stack.close()
})

/** Waits until the connection shows up in the gateway (the handshake's $connect has returned). */
async function connectionIdOf(before: readonly string[]): Promise<string> {
  for (;;) {
    const fresh = stack.ws.connectionIds().filter((id) => !before.includes(id))
    if (fresh.length === 1) return fresh[0] as string
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function openWithId(email: string): Promise<{ client: TestClient; connectionId: string }> {
  const known = stack.ws.connectionIds()
  const client = await stack.connect(email)
  return { client, connectionId: await connectionIdOf(known) }
}

describe('the Management API refuses what API Gateway refuses', () => {
  test('a PostToConnection payload over 128 KB gets 413 PayloadTooLargeException and nothing is sent', async () => {
    const { client, connectionId } = await openWithId('user1@example.com')
    await assert.rejects(management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(128 * 1024 + 1) })), {
      name: 'PayloadTooLargeException',
    })
    await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: JSON.stringify({ type: 'probe' }) }))
    assert.deepEqual(await client.next((frame) => (frame as { type: string }).type === 'probe'), { type: 'probe' })
    assert.deepEqual(client.frames, [], 'the oversized payload never reached the client')
    client.close()
  })

  test('an unsigned or wrongly signed call is refused with 403 and reaches nobody', async () => {
    const { client, connectionId } = await openWithId('user1@example.com')
    const forged = JSON.stringify({ type: 'newMessage', message: { body: 'forged' } })
    const unsigned = await fetch(`${stack.ws.managementEndpoint}/@connections/${encodeURIComponent(connectionId)}`, { method: 'POST', body: forged })
    assert.equal(unsigned.status, 403)
    assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException')

    const wrongSecret = new ApiGatewayManagementApiClient({
      endpoint: stack.ws.managementEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'not-the-secret' },
      maxAttempts: 1,
    })
    await assert.rejects(wrongSecret.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: forged })), { name: 'InvalidSignatureException' })
    wrongSecret.destroy()

    await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: JSON.stringify({ type: 'probe' }) }))
    await client.next((frame) => (frame as { type: string }).type === 'probe')
    assert.deepEqual(client.frames, [], 'no forged frame arrived')
    client.close()
  })

  test('a client that does not read its socket is closed once its buffer is full, and its posts answer 410', async () => {
    const token = await stack.token('user1@example.com')
    const known = stack.ws.connectionIds()
    const socket = new WebSocket(`${stack.wsUrl}/local?token=${encodeURIComponent(token)}`)
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
    const connectionId = await connectionIdOf(known)
    // Stop reading: the kernel buffers fill, then the gateway's own buffer.
    ;(socket as unknown as { _socket: { pause(): void } })._socket.pause()

    const frame = JSON.stringify({ type: 'filler', data: 'y'.repeat(100 * 1024) })
    let gone = 0
    let posted = 0
    for (let i = 0; i < 400 && gone === 0; i++) {
      try {
        await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: frame }))
        posted++
      } catch (error) {
        assert.equal((error as Error).name, 'GoneException')
        gone++
      }
    }
    assert.equal(gone, 1, `the connection was still open after ${posted} frames of 100 KB`)
    assert.ok(posted * 100 * 1024 < MAX_BUFFERED_BYTES + 16 * 1024 * 1024, 'bounded: the gateway buffer plus what the kernel holds')
    assert.ok(!stack.ws.connectionIds().includes(connectionId), 'the connection is gone')
    socket.terminate()
  })
})

describe('the HTTP gateway', () => {
  test('a malformed percent-escape in a path answers 400, not 500', async () => {
    const response = await stack.api('/devices/%E0%A4%A', { method: 'DELETE', email: 'user1@example.com' })
    assert.equal(response.status, 400)
  })

  test('idle keep-alive connections are kept about 60 s, as API Gateway does', async () => {
    const keepAlive = await new Promise<string | undefined>((resolve, reject) => {
      request(`${stack.httpUrl}/health`, { headers: { connection: 'keep-alive' } }, (response) => {
        response.resume()
        resolve(String(response.headers['keep-alive'] ?? ''))
      })
        .on('error', reject)
        .end()
    })
    assert.match(keepAlive ?? '', /timeout=60/)
  })
})

describe('an expired token', () => {
  test('its refused handshake says so in the body', async () => {
    const token = await stack.token('user1@example.com', { expiresInSeconds: -3600 })
    const { status, body } = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
      const socket = new WebSocket(`${stack.wsUrl}/local?token=${encodeURIComponent(token)}`)
      socket.once('unexpected-response', (_request, response) => {
        let text = ''
        response.on('data', (chunk: Buffer) => (text += chunk.toString()))
        response.on('end', () => resolve({ status: response.statusCode, body: text }))
      })
      socket.once('error', reject)
    })
    assert.equal(status, 401)
    assert.match(JSON.parse(body).reason, /expired/)
  })
})

describe('the local stack says what it does', () => {
  test('one line per request, connection and frame; never a token, a body or a device token', async () => {
    lines.length = 0
    const token = await stack.token('user1@example.com')
    const deviceToken = `device-${'d'.repeat(40)}`
    await stack.api('/conversations?limit=5', { token })
    await stack.api(`/devices/${deviceToken}`, { method: 'DELETE', token })
    const client = await stack.connect('user1@example.com', { token })
    const conversationId = (await stack.api('/conversations', { token })).body.conversations[0].id as string
    await client.request({ action: 'joinConversation', conversationId })
    await client.request({ action: 'sendMessage', conversationId, clientMessageId: `log-${Date.now()}`, body: 'a secret body' })
    await client.request({ action: 'noSuchAction' })
    client.close()
    await client.waitForClose()
    await stack.ws.idle()
    for (let i = 0; i < 100 && !lines.some((line) => line.kind === 'ws.disconnect'); i++) await new Promise((resolve) => setTimeout(resolve, 20))

    const http = lines.filter((line) => line.kind === 'http')
    assert.ok(http.some((line) => line.method === 'GET' && line.path === '/conversations' && line.status === 200 && line.function === 'http-app' && typeof line.ms === 'number'))
    assert.ok(http.some((line) => line.method === 'DELETE' && line.path === '/devices/{token}'), 'a device token path is logged as its route')
    assert.ok(lines.some((line) => line.kind === 'ws.connect' && line.user === 'user1@example.com'))
    assert.ok(lines.some((line) => line.kind === 'ws.disconnect' && line.why === 'client closed' && line.code === 1005))
    const frames = lines.filter((line) => line.kind === 'ws.in')
    assert.ok(frames.some((line) => line.action === 'sendMessage' && line.outcome === 'ok' && typeof line.requestId === 'string'))
    assert.ok(frames.some((line) => line.action === '$default' && line.outcome === 'error bad_request'))
    assert.ok(lines.some((line) => line.kind === 'ws.out' && line.type === 'conversationHistory' && Number(line.bytes) > 0))

    const all = JSON.stringify(lines)
    for (const secret of [token, ...token.split('.'), deviceToken, 'a secret body', 'limit=5']) assert.ok(!all.includes(secret), `logged: ${secret.slice(0, 12)}`)
  })

  test('on a terminal the lines are readable and coloured', () => {
    let text = ''
    const tty = createLocalLog({ stream: { isTTY: true, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WritableStream, color: true })
    tty.http({ method: 'GET', path: '/health', status: 503, ms: 3, fn: 'http-app' })
    assert.match(text, /GET \/health \u001b\[31m503\u001b\[0m 3 ms/)
    assert.doesNotMatch(text, /^\{/)
  })
})

describe('the push inspection endpoint', () => {
  test('answers only on loopback, even when HOST exposes the edge', async () => {
    const { createLocalstackApi } = await import('../../packages/aws-edge/src/localstack-api.ts')
    const { openPlatformRegistry } = await import('../../packages/aws-edge/src/sns-platform.ts')
    const api = createLocalstackApi(openPlatformRegistry('us-east-1', `${stack.dataDir}/inspection-test.json`), 'us-east-1')
    const call = (remoteAddress: string) =>
      new Promise<number>((resolve) => {
        const req = Object.assign(new PassThrough(), { method: 'GET', socket: { remoteAddress }, headers: {} })
        req.end()
        const res = {
          statusCode: 0,
          headersSent: false,
          writeHead(status: number) {
            this.statusCode = status
            return this
          },
          setHeader() {},
          end() {
            resolve(this.statusCode)
          },
        }
        api(req as never, res as never, { rawPath: '/_aws/sns/platform-endpoint-messages', query: [] })
      })
    assert.equal(await call('10.1.2.3'), 403)
    assert.equal(await call('192.168.0.9'), 403)
    assert.equal(await call('127.0.0.1'), 200)
    assert.equal(await call('::ffff:127.0.0.1'), 200)
    assert.equal(await call('::1'), 200)
  })
})

describe('validation problems', () => {
  test('have one shape in WebSocket frames and REST bodies', async () => {
    const client = await stack.connect('user1@example.com')
    const frame = await client.request({ action: 'sendMessage', conversationId: 'not-a-uuid', body: 'x' })
    client.close()
    const rest = await stack.api('/admin/conversations?limit=abc', { email: 'admin@example.com' })
    const wsIssues = frame.details?.issues as Array<Record<string, unknown>>
    const restIssues = rest.body.error.details.issues as Array<Record<string, unknown>>
    assert.equal(frame.code, 'bad_request')
    assert.equal(rest.status, 400)
    for (const issue of [...wsIssues, ...restIssues]) {
      assert.deepEqual(Object.keys(issue).sort(), ['code', 'in', 'message', 'path'])
      for (const value of Object.values(issue)) assert.equal(typeof value, 'string')
    }
    assert.ok(wsIssues.some((issue) => issue.in === 'frame' && issue.path === 'clientMessageId'))
    assert.ok(restIssues.some((issue) => issue.in === 'query' && issue.path === 'limit'))
  })
})
