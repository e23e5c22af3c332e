import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { SignatureV4 } from '@smithy/signature-v4'
import { createManagementApi } from '../../lambdas/adapters/websocket-delivery.ts'
import { createSigner, rdsAuthToken } from '../../lambdas/adapters/sigv4.ts'

/**
 * Our Management API client (issue 12 items 4 and 5): its SigV4 signature is the AWS SDK
 * signer's, byte for byte, and it answers, retries and gives up as the SDK's client did. (The
 * local gateway verifying every signed post end to end is covered by the e2e tests.)
 */

/** The Hash the SDK's signer takes, over node:crypto. */
class Sha256 {
  private readonly hash
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret))
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.hash.update(bytesOf(data))
  }
  async digest() {
    return new Uint8Array(this.hash.digest())
  }
  reset() {}
}

function bytesOf(data: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof data === 'string') return data
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data)
}

describe('the SigV4 signature', () => {
  for (const credentials of [
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'session/token+with=odd chars' },
  ]) {
    test(`equals the AWS SDK signer's${credentials.sessionToken ? ' with a session token' : ''}`, async () => {
      const now = new Date('2026-12-02T03:04:05.678Z')
      const path = `/production/@connections/${encodeURIComponent('Ab+c/d=')}`
      const body = new TextEncoder().encode(JSON.stringify({ type: 'newMessage', body: 'héllo' }))
      const host = 'abc123.execute-api.eu-west-1.amazonaws.com'

      const ours: Record<string, string> = { host, 'content-type': 'application/json' }
      createSigner('execute-api', 'eu-west-1').sign('POST', path, ours, body, credentials, now)

      // applyChecksum off: the SDK's own execute-api client does not sign x-amz-content-sha256 either.
      const sdk = new SignatureV4({ service: 'execute-api', region: 'eu-west-1', credentials, sha256: Sha256, applyChecksum: false })
      const signed = await sdk.sign(
        { method: 'POST', protocol: 'https:', hostname: host, path, headers: { host, 'content-type': 'application/json' }, body },
        { signingDate: now },
      )
      assert.equal(ours['authorization'], signed.headers['authorization'])
      assert.equal(ours['x-amz-date'], signed.headers['x-amz-date'])
      assert.equal(ours['x-amz-security-token'], signed.headers['x-amz-security-token'])
    })
  }
})

describe('the RDS IAM auth token', () => {
  for (const credentials of [
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'session/token+with=odd chars' },
  ]) {
    test(`is the one @aws-sdk/rds-signer presigns${credentials.sessionToken ? ', with a session token' : ''}`, async () => {
      const now = new Date('2026-12-02T03:04:05.678Z')
      const [hostname, port, username, region] = ['proxy.proxy-abc.eu-west-1.rds.amazonaws.com', 5432, 'chat_app', 'eu-west-1']
      const ours = rdsAuthToken({ hostname, port, username, region, credentials, now })

      // What Signer.getAuthToken does (node_modules/@aws-sdk/rds-signer/dist-es/Signer.js), with a fixed date.
      const sdk = new SignatureV4({ service: 'rds-db', region, credentials, sha256: Sha256 })
      const presigned = await sdk.presign(
        { method: 'GET', protocol: 'https:', hostname, port, path: '/', query: { Action: 'connect', DBUser: username }, headers: { host: `${hostname}:${port}` } },
        { expiresIn: 900, signingDate: now },
      )
      const query = Object.keys(presigned.query ?? {})
        .sort()
        .map((key) => `${escape(key)}=${escape(String(presigned.query?.[key]))}`)
        .join('&')
      assert.equal(ours, `${hostname}:${port}/?${query}`)
    })
  }
})

/** RFC 3986, as @aws-sdk/util-format-url writes the query. */
function escape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

describe('calls', () => {
  let port: number
  /** What the next requests get, in order; then 200. */
  const answers: Array<(response: ServerResponse) => void> = []
  const seen: Array<{ method: string; url: string; body: string; authorization: string | undefined }> = []
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', body: Buffer.concat(chunks).toString(), authorization: request.headers.authorization })
      const answer = answers.shift()
      if (answer) answer(response)
      else response.writeHead(200).end()
    })
  })
  const client = () =>
    createManagementApi({
      endpoint: `http://127.0.0.1:${port}/stage/`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      retryBaseMs: 1,
    })
  const failWith = (status: number, type: string) => (response: ServerResponse) =>
    response.writeHead(status, { 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/` }).end(JSON.stringify({ message: `${type} here` }))

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  test('posts the data signed to the stage’s @connections path, the connection id encoded', async () => {
    seen.length = 0
    const api = client()
    await api.postToConnection('Ab+c/d=', new TextEncoder().encode('{"type":"probe"}'))
    await api.deleteConnection('xyz=')
    api.destroy()
    assert.deepEqual(
      seen.map(({ method, url, body }) => ({ method, url, body })),
      [
        { method: 'POST', url: '/stage/@connections/Ab%2Bc%2Fd%3D', body: '{"type":"probe"}' },
        { method: 'DELETE', url: '/stage/@connections/xyz%3D', body: '' },
      ],
    )
    assert.match(seen[0]?.authorization ?? '', /^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/)
  })

  test('410 is a GoneException at once, not retried', async () => {
    seen.length = 0
    answers.push(failWith(410, 'GoneException'))
    const api = client()
    await assert.rejects(api.postToConnection('gone', new Uint8Array(1)), (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(error.name, 'GoneException')
      assert.equal(error.$metadata?.httpStatusCode, 410)
      return true
    })
    api.destroy()
    assert.equal(seen.length, 1)
  })

  test('throttling and 5xx are retried, and the third attempt’s answer counts', async () => {
    seen.length = 0
    answers.push(failWith(429, 'LimitExceededException'), failWith(503, 'ServiceUnavailableException'))
    const api = client()
    await api.postToConnection('busy', new Uint8Array(1))
    assert.equal(seen.length, 3)

    seen.length = 0
    answers.push(failWith(500, 'InternalServerErrorException'), failWith(500, 'InternalServerErrorException'), failWith(500, 'InternalServerErrorException'))
    await assert.rejects(api.postToConnection('down', new Uint8Array(1)), { name: 'InternalServerErrorException', message: 'InternalServerErrorException here' })
    assert.equal(seen.length, 3, 'three attempts in all')
    api.destroy()
  })

  test('a refusal other than throttling is not retried', async () => {
    seen.length = 0
    answers.push(failWith(413, 'PayloadTooLargeException'))
    const api = client()
    await assert.rejects(api.postToConnection('big', new Uint8Array(1)), { name: 'PayloadTooLargeException' })
    api.destroy()
    assert.equal(seen.length, 1)
  })

  test('a connection the server drops is retried', async () => {
    seen.length = 0
    answers.push((response) => response.socket?.destroy())
    const api = client()
    await api.postToConnection('reset', new Uint8Array(1))
    api.destroy()
    assert.equal(seen.length, 2)
  })
})
