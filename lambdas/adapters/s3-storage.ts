import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { AttachmentStorage, StoredObject, UploadTicket } from '../core/ports.ts'

export interface S3StorageSettings {
  bucket: string
  uploadUrlSeconds: number
  downloadUrlSeconds: number
}

/**
 * Attachments in S3. Uploads are presigned PUTs that sign the content type, the content
 * length and `If-None-Match: *`, so S3 refuses another type or another size (SignatureDoesNotMatch)
 * and a second upload to the same key (412 PreconditionFailed: the object is write-once); the client must be
 * built with `requestChecksumCalculation: 'WHEN_REQUIRED'`, or the URL would carry the checksum
 * of an empty body. Downloads are presigned GETs that make the browser save the file under its
 * original name. Presigning is an HMAC computed here; only head and delete reach S3.
 */
export function createS3Storage(client: S3Client, settings: S3StorageSettings): AttachmentStorage {
  const Bucket = settings.bucket
  return {
    async presignUpload({ key, contentType, size }): Promise<UploadTicket> {
      const signingDate = new Date()
      // IfNoneMatch '*': a conditional write, so the object is write-once. A second PUT with the
      // same URL (after the message was sent, to swap the file recipients download) fails with 412.
      const command = new PutObjectCommand({ Bucket, Key: key, ContentType: contentType, ContentLength: size, IfNoneMatch: '*' })
      const url = await getSignedUrl(client, command, {
        expiresIn: settings.uploadUrlSeconds,
        signingDate,
        // content-length is signed whenever ContentLength is set; content-type and if-none-match only
        // when asked: signed, an upload without them (or with other values) fails the signature.
        signableHeaders: new Set(['content-type', 'if-none-match']),
      })
      return {
        url,
        method: 'PUT',
        headers: { 'content-type': contentType, 'content-length': String(size), 'if-none-match': '*' },
        expiresAt: new Date(signingDate.getTime() + settings.uploadUrlSeconds * 1000).toISOString(),
      }
    },

    presignDownload({ key, fileName, contentType }) {
      return getSignedUrl(
        client,
        new GetObjectCommand({ Bucket, Key: key, ResponseContentDisposition: contentDisposition(fileName), ResponseContentType: contentType }),
        { expiresIn: settings.downloadUrlSeconds },
      )
    },

    async head(key): Promise<StoredObject | null> {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket, Key: key }))
        return { contentType: head.ContentType ?? '', size: head.ContentLength ?? 0 }
      } catch (error) {
        if (isNotFound(error)) return null
        throw error
      }
    },

    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: key }))
    },
  }
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / RFC 8187). */
export function contentDisposition(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | null
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404
}
