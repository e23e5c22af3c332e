import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../src/sigv4.ts'
import { credentials, rawRequest, s3Client, startEdgeFixture, xmlCode, type EdgeFixture } from './support.ts'

/**
 * Requests a hand-rolled client could send, signed with the same signer the SDK uses, to
 * pin down the checks the SDK never exercises: payload hashes, signed chunks, scopes.
 */

const BUCKET = 'signed-by-hand'
const BODY = Buffer.from('0123456789abcdef')

describe('SigV4 edge cases on S3', () => {
  let fixture: EdgeFixture
  let s3: S3Client

  before(async () => {
    fixture = await startEdgeFixture()
    s3 = s3Client(fixture.edge)
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
  })

  after(async () => {
    s3.destroy()
    await fixture.dispose()
  })

  function signer(region = 'us-east-1'): SignatureV4 {
    return new SignatureV4({ credentials, region, service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false })
  }

  async function signPut(key: string, headers: Record<string, string>, options: { region?: string; signingDate?: Date } = {}) {
    const { host } = new URL(fixture.edge.url)
    const signed = await signer(options.region).sign(
      { method: 'PUT', protocol: 'http:', hostname: 'localhost', path: `/${BUCKET}/${key}`, query: {}, headers: { host, ...headers } },
      { signingDate: options.signingDate ?? new Date() },
    )
    return { url: `${fixture.edge.url}/${BUCKET}/${key}`, headers: signed.headers }
  }

  async function stored(key: string): Promise<Buffer | undefined> {
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      return Buffer.from(await got.Body!.transformToByteArray())
    } catch (error) {
      if (error instanceof Error && error.name === 'NoSuchKey') return undefined
      throw error
    }
  }

  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

  test('a body that does not hash to the signed x-amz-content-sha256 is refused with XAmzContentSHA256Mismatch', async () => {
    const other = Buffer.from('fedcba9876543210')
    const { url, headers } = await signPut('hash-mismatch.txt', { 'content-length': String(BODY.length), 'x-amz-content-sha256': sha256(BODY) })

    const response = await rawRequest(url, { method: 'PUT', headers, body: other })

    assert.equal(response.status, 400)
    assert.equal(xmlCode(response.body), 'XAmzContentSHA256Mismatch')
    assert.equal(await stored('hash-mismatch.txt'), undefined)
  })

  test('changing a signed header after signing (content-type) is refused with SignatureDoesNotMatch', async () => {
    const { url, headers } = await signPut('retyped.txt', {
      'content-type': 'text/plain',
      'content-length': String(BODY.length),
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    })

    const response = await rawRequest(url, { method: 'PUT', headers: { ...headers, 'content-type': 'text/html' }, body: BODY })

    assert.equal(response.status, 403)
    assert.equal(xmlCode(response.body), 'SignatureDoesNotMatch')
    assert.equal(await stored('retyped.txt'), undefined)
  })

  test('a credential scoped to another region is refused with AuthorizationHeaderMalformed', async () => {
    const { url, headers } = await signPut('elsewhere.txt', { 'content-length': String(BODY.length), 'x-amz-content-sha256': sha256(BODY) }, { region: 'eu-west-1' })

    const response = await rawRequest(url, { method: 'PUT', headers, body: BODY })

    assert.equal(response.status, 400)
    assert.equal(xmlCode(response.body), 'AuthorizationHeaderMalformed')
    assert.match(response.body, /the region 'eu-west-1' is wrong; expecting 'us-east-1'/)
  })

  test('an Authorization header together with a presigned query is refused with InvalidArgument', async () => {
    const { url, headers } = await signPut('both.txt', { 'content-length': String(BODY.length), 'x-amz-content-sha256': sha256(BODY) })

    const response = await rawRequest(`${url}?X-Amz-Algorithm=AWS4-HMAC-SHA256`, { method: 'PUT', headers, body: BODY })

    assert.equal(response.status, 400)
    assert.equal(xmlCode(response.body), 'InvalidArgument')
  })

  describe('signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
    async function signedChunkedPut(key: string, chunks: Buffer[], tamper?: (framed: Buffer[]) => Buffer[]) {
      const signingDate = new Date()
      const decodedLength = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
      // Each chunk is framed as `<hex size>;chunk-signature=<64 hex>\r\n<bytes>\r\n`, the last one empty.
      const frameLength = [...chunks, Buffer.alloc(0)].reduce((sum, chunk) => sum + chunk.length.toString(16).length + 17 + 64 + 4 + chunk.length, 0)
      const { url, headers } = await signPut(
        key,
        {
          'content-encoding': 'aws-chunked',
          'content-length': String(frameLength),
          'x-amz-decoded-content-length': String(decodedLength),
          'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        },
        { signingDate },
      )
      let prior = /Signature=([0-9a-f]+)/.exec(headers['authorization'] ?? '')?.[1] ?? ''
      const framed: Buffer[] = []
      for (const chunk of [...chunks, Buffer.alloc(0)]) {
        const signature = await signer().sign({ headers: new Uint8Array(0), payload: chunk }, { signingDate, priorSignature: prior })
        framed.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`), chunk, Buffer.from('\r\n'))
        prior = signature
      }
      const body = Buffer.concat(tamper === undefined ? framed : tamper(framed))
      assert.equal(body.length, frameLength)
      return rawRequest(url, { method: 'PUT', headers, body })
    }

    test('chained chunk signatures are verified and the decoded bytes stored', async () => {
      const response = await signedChunkedPut('chunked-ok.txt', [Buffer.from('hello '), Buffer.from('chunked world')])

      assert.equal(response.status, 200, response.body)
      assert.deepEqual(await stored('chunked-ok.txt'), Buffer.from('hello chunked world'))
    })

    test('a chunk altered in transit is refused with SignatureDoesNotMatch', async () => {
      const response = await signedChunkedPut('chunked-tampered.txt', [Buffer.from('hello '), Buffer.from('chunked world')], (framed) =>
        framed.map((part) => (part.toString() === 'chunked world' ? Buffer.from('chunked WORLD') : part)),
      )

      assert.equal(response.status, 403)
      assert.equal(xmlCode(response.body), 'SignatureDoesNotMatch')
      assert.equal(await stored('chunked-tampered.txt'), undefined)
    })
  })

  test('bytes sent beyond a signed Content-Length are never part of the object', async () => {
    const key = 'overflow.txt'
    const { headers } = await signPut(key, { 'content-length': String(BODY.length), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' })
    const { port } = new URL(fixture.edge.url)
    const put = [`PUT /${BUCKET}/${key} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n')
    // The surplus is itself a well-formed request, so the server's reading of it is visible in the replies.
    const surplus = 'GET /_localstack/health HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n'

    const replies = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(put), BODY, Buffer.from(surplus)])))
      let text = ''
      socket.on('data', (data) => (text += data.toString()))
      socket.on('end', () => resolve(text))
      socket.on('error', reject)
    })

    // Node reads exactly Content-Length bytes (the signed value); what follows is the next request.
    assert.match(replies, /^HTTP\/1\.1 200 OK/)
    assert.match(replies, /"services":\{"s3":"running"/)
    assert.deepEqual(await stored(key), BODY)
  })
})
