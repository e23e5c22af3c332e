import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { contentDisposition, createS3Storage } from '../../lambdas/adapters/s3-storage.ts'

/**
 * Issue 12 item 5: the attachment URLs are presigned without the SDK's client, by the SDK's own
 * signer. Here they are compared byte for byte with what the SDK's presigner (`getSignedUrl`, with
 * the settings the S3 client had: no checksums) makes of the same object at the same instant: in
 * AWS (virtual-hosted, with and without a session token, in two regions) and on the local edge
 * (path style), for keys that need encoding.
 */

const signingDate = new Date('2026-12-02T07:00:00.000Z')
const lambda = { accessKeyId: 'ASIAEXAMPLE0000000001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2Vj/session+token==' }
const local = { accessKeyId: 'test', secretAccessKey: 'test' }

const places = [
  { name: 'AWS, us-east-1, a session token', region: 'us-east-1', credentials: lambda, forcePathStyle: false },
  { name: 'AWS, eu-central-1, a session token', region: 'eu-central-1', credentials: lambda, forcePathStyle: false },
  { name: 'the local edge, path style', region: 'us-east-1', credentials: local, forcePathStyle: true, endpoint: 'http://127.0.0.1:4566' },
] as const

const objects = [
  { key: 'attachments/6f1c8a0e/0d2b4c6e', fileName: 'photo.jpg', contentType: 'image/jpeg', size: 123_456 },
  { key: "a b+c/ü (1)*!'~.png", fileName: 'Trainingsplan für Ölçü "final".pdf', contentType: 'application/pdf', size: 26_214_400 },
]

for (const place of places) {
  describe(`presigned attachment URLs on ${place.name}`, () => {
    const settings = { bucket: 'trainer-chat-attachments-123456789012', uploadUrlSeconds: 300, downloadUrlSeconds: 900 }
    const ours = createS3Storage({ ...settings, ...place, now: () => signingDate })
    const sdk = new S3Client({
      region: place.region,
      credentials: place.credentials,
      forcePathStyle: place.forcePathStyle,
      ...('endpoint' in place ? { endpoint: place.endpoint } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    })

    for (const object of objects) {
      test(`an upload of ${JSON.stringify(object.key)} is the SDK's presigned PUT, content type, length and If-None-Match signed`, async () => {
        const ticket = await ours.presignUpload(object)
        const expected = await getSignedUrl(
          sdk,
          new PutObjectCommand({ Bucket: settings.bucket, Key: object.key, ContentType: object.contentType, ContentLength: object.size, IfNoneMatch: '*' }),
          { expiresIn: settings.uploadUrlSeconds, signingDate, signableHeaders: new Set(['content-type', 'if-none-match']) },
        )

        assert.equal(ticket.url, expected)
        assert.match(ticket.url, /X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match&/)
        assert.deepEqual(ticket.headers, { 'content-type': object.contentType, 'content-length': String(object.size), 'if-none-match': '*' })
        assert.equal(ticket.method, 'PUT')
        assert.equal(ticket.expiresAt, '2026-12-02T07:05:00.000Z')
      })

      test(`a download of ${JSON.stringify(object.key)} is the SDK's presigned GET, saving under the original name`, async () => {
        const url = await ours.presignDownload(object)
        const expected = await getSignedUrl(
          sdk,
          new GetObjectCommand({ Bucket: settings.bucket, Key: object.key, ResponseContentDisposition: contentDisposition(object.fileName), ResponseContentType: object.contentType }),
          { expiresIn: settings.downloadUrlSeconds, signingDate },
        )

        assert.equal(url, expected)
        assert.equal(new URL(url).searchParams.get('response-content-disposition'), contentDisposition(object.fileName))
      })
    }
  })
}
