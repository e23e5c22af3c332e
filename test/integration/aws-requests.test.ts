import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { CreatePlatformApplicationCommand, SNSClient } from '@aws-sdk/client-sns'
import { startAwsEdge, type AwsEdge } from '@trainer-chat/aws-edge'
import { createS3Storage } from '../../lambdas/adapters/s3-storage.ts'
import { createSnsCall, createSnsPush } from '../../lambdas/adapters/sns-push.ts'
import type { PushNotification } from '../../lambdas/core/ports.ts'

/**
 * Issue 12 item 5: S3 and SNS without the SDK's clients. Against the local AWS edge, which checks
 * SigV4 with the SDK's signer and speaks the services' wire protocols: HeadObject and DeleteObject,
 * the SNS query protocol (endpoints, Publish, the errors the push relies on), with a session
 * token as Lambda has one, and the SDK's retries; against a server that never answers, the
 * timeouts the push client had.
 */

const bucket = 'aws-requests-test'
const region = 'us-east-1'
// The edge accepts test/test; a session token is signed like any x-amz header.
const credentials = { accessKeyId: 'test', secretAccessKey: 'test', sessionToken: 'FwoGZXIvYXdzEJr//session+token=' }
const notification: PushNotification = { title: 'Coach', body: 'See you Thursday', conversationId: 'c-1', messageId: 'm-1', badge: 2 }

let edge: AwsEdge
let dataDir: string
let applicationArn: string

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'aws-requests-'))
  edge = await startAwsEdge({ port: 0, dataDir, region })
  const setup = { endpoint: edge.url, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }
  await new S3Client({ ...setup, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: bucket }))
  const created = await new SNSClient(setup).send(
    new CreatePlatformApplicationCommand({ Name: 'aws-requests-ios', Platform: 'APNS', Attributes: { PlatformCredential: 'key', PlatformPrincipal: 'cert' } }),
  )
  applicationArn = created.PlatformApplicationArn ?? ''
})

after(async () => {
  await edge.stop()
  await rm(dataDir, { recursive: true, force: true })
})

const storage = (overrides: { maxAttempts?: number } = {}) =>
  createS3Storage({ bucket, region, endpoint: edge.url, forcePathStyle: true, credentials, uploadUrlSeconds: 60, downloadUrlSeconds: 60, retryBaseMs: 0, ...overrides })

async function upload(key: string, body: string, contentType = 'text/plain') {
  const ticket = await storage().presignUpload({ key, contentType, size: Buffer.byteLength(body) })
  return fetch(ticket.url, { method: ticket.method, headers: ticket.headers, body })
}

describe('S3 HeadObject and DeleteObject, signed without the SDK', () => {
  test('head answers the uploaded object’s type and size, and null once it is deleted', async () => {
    assert.equal((await upload('files/a b+ü.txt', 'hello, world')).status, 200)

    const found = await storage().head('files/a b+ü.txt')
    await storage().delete('files/a b+ü.txt')
    const gone = await storage().head('files/a b+ü.txt')

    assert.deepEqual(found, { contentType: 'text/plain', size: 12 })
    assert.equal(gone, null)
  })

  test('deleting a key that holds nothing succeeds, as in S3', async () => {
    await storage().delete('files/never-there')
  })

  test('S3 slowing down is retried, up to three attempts in all', async () => {
    assert.equal((await upload('files/retried', 'x')).status, 200)

    edge.s3.failNext(2)
    const found = await storage().head('files/retried')

    assert.deepEqual(found, { contentType: 'text/plain', size: 1 })
  })

  test('a third failure is the error S3 answered, with its status', async () => {
    edge.s3.failNext(3)
    await assert.rejects(storage().delete('files/retried'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } })
    edge.s3.failNext(3)
    // A HEAD answer has no body: the status is all there is (the SDK names it the same way).
    await assert.rejects(storage().head('files/retried'), { $metadata: { httpStatusCode: 503 } })
    edge.s3.failNext(0)
  })

  test('a request signed with other credentials is refused, not taken for a missing object', async () => {
    const forged = createS3Storage({ bucket, region, endpoint: edge.url, forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'wrong' }, uploadUrlSeconds: 60, downloadUrlSeconds: 60 })

    await assert.rejects(forged.head('files/retried'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } })
    await assert.rejects(forged.delete('files/retried'), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } })
  })
})

describe('SNS over the query protocol, signed without the SDK', () => {
  const push = () => createSnsPush(createSnsCall({ region, endpoint: edge.url, credentials, maxAttempts: 2, retryBaseMs: 0 }), { ios: applicationArn })
  const publishedTo = (endpointArn: string) => edge.sns.published().filter((message) => message.TargetArn === endpointArn)

  test('a registered device gets an endpoint, once per token, and a Publish reaches it as JSON per platform', async () => {
    const first = await push().registerEndpoint('ios', 'ios-token-1')
    const again = await push().registerEndpoint('ios', 'ios-token-1')

    const result = await push().publish({ endpointArn: first, platform: 'ios' }, notification)

    assert.match(first, /^arn:aws:sns:us-east-1:\d{12}:endpoint\/APNS\/aws-requests-ios\//)
    assert.equal(again, first)
    assert.equal(result, 'sent')
    const [published] = publishedTo(first)
    assert.equal(published?.MessageStructure, 'json')
    assert.deepEqual(Object.keys(JSON.parse(published?.Message ?? '{}')).sort(), ['APNS', 'APNS_SANDBOX', 'GCM', 'default'])
  })

  test('a disabled endpoint answers endpoint_disabled, and registering the token again enables it', async () => {
    const endpointArn = await push().registerEndpoint('ios', 'ios-token-2')
    edge.sns.setEndpointEnabled(endpointArn, false)

    const disabled = await push().publish({ endpointArn, platform: 'ios' }, notification)
    const reRegistered = await push().registerEndpoint('ios', 'ios-token-2')
    const enabled = await push().publish({ endpointArn, platform: 'ios' }, notification)

    assert.equal(disabled, 'endpoint_disabled')
    assert.equal(reRegistered, endpointArn)
    assert.equal(enabled, 'sent')
    assert.equal(publishedTo(endpointArn).length, 1)
  })

  test('a deleted endpoint answers endpoint_disabled too', async () => {
    const endpointArn = await push().registerEndpoint('ios', 'ios-token-3')

    await push().deleteEndpoint(endpointArn)

    assert.equal(await push().publish({ endpointArn, platform: 'ios' }, notification), 'endpoint_disabled')
  })

  test('an SNS failure is retried once; a second one is the error SNS answered', async () => {
    const endpointArn = await push().registerEndpoint('ios', 'ios-token-4')

    edge.sns.failNext(1)
    const retried = await push().publish({ endpointArn, platform: 'ios' }, notification)
    edge.sns.failNext(2)
    const failed = push().publish({ endpointArn, platform: 'ios' }, notification)

    assert.equal(retried, 'sent')
    await assert.rejects(failed, { name: 'InternalError', $metadata: { httpStatusCode: 500 } })
    edge.sns.failNext(0)
  })
})

describe('timeouts', () => {
  let silent: Server
  let url: string
  const requests: string[] = []
  const sockets = new Set<Socket>()

  before(async () => {
    // Takes every request and never answers.
    silent = createServer((request) => void requests.push(request.method ?? ''))
    silent.on('connection', (socket) => void sockets.add(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  test('a push that gets no answer times out, is tried twice, and fails with TimeoutError', async () => {
    const call = createSnsCall({ region, endpoint: url, credentials, maxAttempts: 2, requestTimeoutMs: 50, retryBaseMs: 0 })

    await assert.rejects(createSnsPush(call, { ios: applicationArn }).publish({ endpointArn: 'arn:aws:sns:us-east-1:000000000000:endpoint/APNS/x/y', platform: 'ios' }, notification), {
      name: 'TimeoutError',
      $metadata: { attempts: 2 },
    })
    assert.deepEqual(requests, ['POST', 'POST'])
  })
})
