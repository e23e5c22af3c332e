import { createAttachmentStore } from './adapters/attachment-store.ts'
import { loadOnFirstUse } from './adapters/load-on-first-use.ts'
import { log } from './adapters/logger.ts'
import { config } from './config.ts'
import type { AttachmentPolicy } from './core/attachments.ts'
import type { AttachmentStorage } from './core/ports.ts'
import type { UploadPorts } from './core/uploads.ts'
import { db, onRuntimeReset } from './runtime.ts'

/** Attachment storage for the handlers that touch files (see runtime.ts for why it is apart). */

let storage: AttachmentStorage | undefined
onRuntimeReset(() => (storage = undefined))

/**
 * S3 through the standard endpoint configuration (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 point
 * it at LocalStack or the local edge). Checksums only where S3 requires them: a presigned PUT
 * must not carry the checksum of an empty body. Built on first use, then kept.
 */
export function attachmentStorage(): AttachmentStorage {
  return (storage ??= loadOnFirstUse(async () => {
    const [{ S3Client }, { createS3Storage }] = await Promise.all([import('@aws-sdk/client-s3'), import('./adapters/s3-storage.ts')])
    const settings = config().attachments
    const client = new S3Client({
      region: config().region,
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
  }, ['presignUpload', 'presignDownload', 'head', 'delete']))
}

export function attachmentPolicy(): AttachmentPolicy {
  const { maxBytes, contentTypes, useWithinSeconds } = config().attachments
  return { maxBytes, contentTypes, useWithinSeconds }
}

export function uploadPorts(): UploadPorts {
  return { store: createAttachmentStore(db()), storage: attachmentStorage(), policy: attachmentPolicy(), log }
}
