import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { expectServiceError, rawRequest, s3Client, startEdgeFixture, xmlCode, xmlMessage, type EdgeFixture } from './support.ts'

const BUCKET = 'chat-media'
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')

describe('S3 on the AWS edge', () => {
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

  /** A presigned PUT bound to a content type and a size, as the app hands them to clients. */
  function presignUpload(key: string, options: { contentType?: string; length?: number; expiresIn?: number; signingDate?: Date } = {}) {
    return getSignedUrl(
      s3,
      new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentType: options.contentType ?? 'image/png', ContentLength: options.length ?? PNG.length }),
      {
        expiresIn: options.expiresIn ?? 300,
        signableHeaders: new Set(['content-type', 'content-length']),
        ...(options.signingDate !== undefined && { signingDate: options.signingDate }),
      },
    )
  }

  async function objectExists(key: string): Promise<boolean> {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
      return true
    } catch (error) {
      if (error instanceof Error && error.name === 'NotFound') return false
      throw error
    }
  }

  async function expectRefused(response: Response, status: number, code: string, key: string): Promise<string> {
    const body = await response.text()
    assert.equal(response.status, status, body)
    assert.equal(xmlCode(body), code)
    assert.equal(await objectExists(key), false, 'a refused upload must not store anything')
    return body
  }

  describe('conditional writes (If-None-Match: *), as S3 has them', () => {
    test('the first PUT creates the object; a second one is 412 PreconditionFailed and keeps the first bytes', async () => {
      const key = 'write-once/a.png'
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: PNG, ContentType: 'image/png', IfNoneMatch: '*' }))

      const second = await s3
        .send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from('swapped'), ContentType: 'image/png', IfNoneMatch: '*' }))
        .then(() => undefined, (error: { name?: string; $metadata?: { httpStatusCode?: number } }) => error)

      assert.equal(second?.$metadata?.httpStatusCode, 412)
      assert.equal(second?.name, 'PreconditionFailed')
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), PNG)
    })

    test('of two racing conditional PUTs exactly one succeeds', async () => {
      const key = 'write-once/race.png'
      const put = (body: Buffer) =>
        s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: 'image/png', IfNoneMatch: '*' })).then(
          () => 'stored',
          (error: { name?: string }) => error.name,
        )
      const outcomes = await Promise.all([put(PNG), put(Buffer.from('other'))])
      assert.deepEqual(outcomes.sort(), ['PreconditionFailed', 'stored'])
    })

    test('a presigned PUT signing If-None-Match cannot drop it', async () => {
      const key = 'write-once/presigned.png'
      const url = await getSignedUrl(
        s3,
        new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentType: 'image/png', ContentLength: PNG.length, IfNoneMatch: '*' }),
        { expiresIn: 300, signableHeaders: new Set(['content-type', 'if-none-match']) },
      )
      const headers = { 'content-type': 'image/png', 'content-length': String(PNG.length) }
      await expectRefused(await fetch(url, { method: 'PUT', headers, body: PNG }), 403, 'SignatureDoesNotMatch', key)
      assert.equal((await fetch(url, { method: 'PUT', headers: { ...headers, 'if-none-match': '*' }, body: PNG })).status, 200)
      const again = await fetch(url, { method: 'PUT', headers: { ...headers, 'if-none-match': '*' }, body: PNG })
      assert.equal(again.status, 412)
      assert.equal(xmlCode(await again.text()), 'PreconditionFailed')
    })
  })

  describe('with the SDK (header-signed requests)', () => {
    test('PutObject, HeadObject and GetObject round-trip bytes, type and metadata', async () => {
      const key = 'uploads/a photo+1 é.png'
      const put = await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: PNG, ContentType: 'image/png', Metadata: { owner: 'trainer-7' } }),
      )

      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))

      assert.equal(head.ContentType, 'image/png')
      assert.equal(head.ContentLength, PNG.length)
      assert.equal(head.ETag, put.ETag)
      assert.equal(head.ETag, `"${createHash('md5').update(PNG).digest('hex')}"`)
      assert.deepEqual(head.Metadata, { owner: 'trainer-7' })
      assert.ok(head.LastModified instanceof Date)
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), PNG)
    })

    test('a streamed upload with the default checksum (aws-chunked with a CRC32 trailer) stores the decoded bytes', async () => {
      const streaming = s3Client(fixture.edge, { requestChecksumCalculation: 'WHEN_SUPPORTED' })
      const key = 'uploads/streamed.txt'

      await streaming.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Readable.from([Buffer.from('hello '), Buffer.from('world')]), ContentLength: 11 }),
      )

      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
      assert.equal(await got.Body!.transformToString(), 'hello world')
      streaming.destroy()
    })

    test('a client with the wrong secret key gets SignatureDoesNotMatch', async () => {
      const forger = s3Client(fixture.edge, { credentials: { accessKeyId: 'test', secretAccessKey: 'not-the-secret' } })

      await expectServiceError(forger.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'forged.txt', Body: 'x' })), 'SignatureDoesNotMatch', 403)
      assert.equal(await objectExists('forged.txt'), false)
      forger.destroy()
    })

    test('an unknown access key gets InvalidAccessKeyId', async () => {
      const stranger = s3Client(fixture.edge, { credentials: { accessKeyId: 'AKIASTRANGER', secretAccessKey: 'test' } })

      await expectServiceError(stranger.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'anything' })), 'InvalidAccessKeyId', 403)
      stranger.destroy()
    })

    test('a request signed 20 minutes in the past gets RequestTimeTooSkewed', async () => {
      const late = s3Client(fixture.edge, { systemClockOffset: -20 * 60_000, maxAttempts: 1 })

      await expectServiceError(late.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'anything' })), 'RequestTimeTooSkewed', 403)
      late.destroy()
    })

    test('missing buckets and keys answer NoSuchBucket and NoSuchKey (404), HEAD answers NotFound', async () => {
      await expectServiceError(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })), 'NoSuchBucket', 404)
      await expectServiceError(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'missing.png' })), 'NoSuchKey', 404)
      await expectServiceError(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'missing.png' })), 'NotFound', 404)
    })

    test('s3.failNext makes the next call answer 503 SlowDown, which the SDK retries', async () => {
      const noRetry = s3Client(fixture.edge, { maxAttempts: 1 })
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'flaky.txt', Body: 'ok' }))

      fixture.edge.s3.failNext(1)
      await expectServiceError(noRetry.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'flaky.txt' })), 'SlowDown', 503)
      fixture.edge.s3.failNext(1)
      const retried = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'flaky.txt' }))

      assert.equal(await retried.Body!.transformToString(), 'ok')
      assert.equal(retried.$metadata.attempts, 2)
      noRetry.destroy()
    })
  })

  describe('presigned uploads', () => {
    test('a presigned PUT with the signed type and length succeeds with plain fetch', async () => {
      const key = 'uploads/presigned-ok.png'
      const url = await presignUpload(key)

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      assert.equal(response.status, 200, await response.text())
      assert.match(response.headers.get('etag') ?? '', /^"[0-9a-f]{32}"$/)
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
      assert.equal(head.ContentType, 'image/png')
      assert.equal(head.ContentLength, PNG.length)
    })

    test('the URL signs content-type and content-length as headers', async () => {
      const url = new URL(await presignUpload('uploads/inspect.png'))

      assert.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'content-length;content-type;host')
      assert.equal(url.searchParams.get('x-amz-checksum-crc32'), null, 'WHEN_REQUIRED keeps the empty-body checksum out of the URL')
    })

    test('uploading another content type is refused with SignatureDoesNotMatch', async () => {
      const key = 'uploads/wrong-type.png'
      const url = await presignUpload(key)

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/html' }, body: PNG })

      await expectRefused(response, 403, 'SignatureDoesNotMatch', key)
    })

    test('a body larger than the signed length is refused with SignatureDoesNotMatch', async () => {
      const key = 'uploads/too-big.png'
      const url = await presignUpload(key)

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: Buffer.concat([PNG, PNG]) })

      await expectRefused(response, 403, 'SignatureDoesNotMatch', key)
    })

    test('a chunked upload that hides its length does not match the signed content-length', async () => {
      const key = 'uploads/chunked.png'
      const url = await presignUpload(key)

      const response = await rawRequest(url, {
        method: 'PUT',
        headers: { 'Content-Type': 'image/png', 'Transfer-Encoding': 'chunked' },
        body: [PNG, PNG],
      })

      assert.equal(response.status, 403)
      assert.equal(xmlCode(response.body), 'SignatureDoesNotMatch')
      assert.equal(await objectExists(key), false)
    })

    test('a tampered signature is refused with SignatureDoesNotMatch', async () => {
      const key = 'uploads/tampered-signature.png'
      const url = new URL(await presignUpload(key))
      const signature = url.searchParams.get('X-Amz-Signature') ?? ''
      url.searchParams.set('X-Amz-Signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`)

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      await expectRefused(response, 403, 'SignatureDoesNotMatch', key)
    })

    test('a URL moved to another key is refused, and neither key is written', async () => {
      const signedKey = 'uploads/signed-key.png'
      const url = new URL(await presignUpload(signedKey))
      url.pathname = `/${BUCKET}/uploads/other-key.png`

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      await expectRefused(response, 403, 'SignatureDoesNotMatch', 'uploads/other-key.png')
      assert.equal(await objectExists(signedKey), false)
    })

    test('a lengthened expiry (a tampered signed query parameter) is refused', async () => {
      const key = 'uploads/longer-expiry.png'
      const url = new URL(await presignUpload(key))
      url.searchParams.set('X-Amz-Expires', '3600')

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      await expectRefused(response, 403, 'SignatureDoesNotMatch', key)
    })

    test('an expired URL is refused with AccessDenied "Request has expired"', async () => {
      const key = 'uploads/expired.png'
      const url = await presignUpload(key, { expiresIn: 60, signingDate: new Date(Date.now() - 5 * 60_000) })

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      const body = await expectRefused(response, 403, 'AccessDenied', key)
      assert.equal(xmlMessage(body), 'Request has expired')
    })

    test('an expiry longer than a week is refused with AuthorizationQueryParametersError (400)', async () => {
      const key = 'uploads/week-long.png'
      const url = new URL(await presignUpload(key))
      url.searchParams.set('X-Amz-Expires', '604801')

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      await expectRefused(response, 400, 'AuthorizationQueryParametersError', key)
    })

    test('an unsigned PUT is refused with AccessDenied', async () => {
      const key = 'uploads/unsigned.png'

      const response = await fetch(`${fixture.edge.url}/${BUCKET}/${key}`, { method: 'PUT', headers: { 'Content-Type': 'image/png' }, body: PNG })

      await expectRefused(response, 403, 'AccessDenied', key)
    })

    test('an unsigned x-amz-meta header added by the uploader is refused with AccessDenied', async () => {
      const key = 'uploads/extra-header.png'
      const url = await presignUpload(key)

      const response = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'image/png', 'x-amz-meta-owner': 'mallory' }, body: PNG })

      const body = await expectRefused(response, 403, 'AccessDenied', key)
      assert.match(xmlMessage(body) ?? '', /not signed: x-amz-meta-owner/)
    })

    test('a URL presigned with the SDK default checksum (CRC32 of an empty body) fails BadDigest like S3', async () => {
      const defaults = s3Client(fixture.edge, { requestChecksumCalculation: 'WHEN_SUPPORTED' })
      const key = 'uploads/default-checksum.png'
      const url = await getSignedUrl(defaults, new PutObjectCommand({ Bucket: BUCKET, Key: key, ContentLength: PNG.length }), { expiresIn: 300 })

      const response = await fetch(url, { method: 'PUT', body: PNG })

      await expectRefused(response, 400, 'BadDigest', key)
      defaults.destroy()
    })
  })

  describe('presigned downloads', () => {
    test('a presigned GET returns the same bytes, with an optional Content-Disposition override', async () => {
      const key = 'uploads/download.png'
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: PNG, ContentType: 'image/png' }))
      const url = await getSignedUrl(
        s3,
        new GetObjectCommand({ Bucket: BUCKET, Key: key, ResponseContentDisposition: 'attachment; filename="photo.png"' }),
        { expiresIn: 60 },
      )

      const response = await fetch(url)

      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), 'image/png')
      assert.equal(response.headers.get('content-disposition'), 'attachment; filename="photo.png"')
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), PNG)
    })

    test('a presigned GET used for another key is refused', async () => {
      const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/download.png' }), { expiresIn: 60 }))
      url.pathname = `/${BUCKET}/uploads/presigned-ok.png`

      const response = await fetch(url)

      assert.equal(response.status, 403)
      assert.equal(xmlCode(await response.text()), 'SignatureDoesNotMatch')
    })
  })

  test('objects survive a restart of the edge on the same data dir', async () => {
    const key = 'uploads/durable.png'
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: PNG, ContentType: 'image/png', Metadata: { kept: 'yes' } }))

    const edge = await fixture.restart()
    s3.destroy()
    s3 = s3Client(edge)
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))

    assert.equal(got.ContentType, 'image/png')
    assert.deepEqual(got.Metadata, { kept: 'yes' })
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), PNG)
  })
})
