import { loadOnFirstUse } from '../adapters/load-on-first-use.ts'
import type { AttachmentPolicy } from '../core/attachments.ts'
import type { AttachmentStorage } from '../core/ports.ts'
import type { Base } from './base.ts'

/**
 * Attachment storage on S3 (the configured endpoint, else AWS). Checksums only where S3 requires
 * them: a presigned PUT must not carry the checksum of an empty body. The SDK client is loaded on
 * first use: a send without an attachment never evaluates it.
 */
export function attachmentStorage(base: Base): AttachmentStorage {
  const settings = base.config.attachments
  return loadOnFirstUse(async () => {
    const [{ S3Client }, { createS3Storage }] = await Promise.all([import('@aws-sdk/client-s3'), import('../adapters/s3-storage.ts')])
    const client = new S3Client({
      ...base.aws,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      forcePathStyle: settings.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    })
    return createS3Storage(client, {
      bucket: settings.bucket,
      uploadUrlSeconds: settings.uploadUrlSeconds,
      downloadUrlSeconds: settings.downloadUrlSeconds,
    })
  }, ['presignUpload', 'presignDownload', 'head', 'delete'])
}

export function attachmentPolicy(base: Base): AttachmentPolicy {
  const { maxBytes, contentTypes, useWithinSeconds } = base.config.attachments
  return { maxBytes, contentTypes, useWithinSeconds }
}
