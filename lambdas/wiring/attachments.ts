import { createS3Storage } from '../adapters/s3-storage.ts'
import type { AttachmentPolicy } from '../core/attachments.ts'
import type { AttachmentStorage } from '../core/ports.ts'
import type { Base } from './base.ts'

/**
 * Attachment storage on S3 (the configured endpoint, else AWS), signed with the role's
 * credentials from the environment (or the local stack's). No SDK client: what it costs a
 * bundle is the signer and a few lines (issue 12 item 5), so it is built at module scope.
 */
export function attachmentStorage(base: Base): AttachmentStorage {
  const settings = base.config.attachments
  return createS3Storage({
    bucket: settings.bucket,
    region: base.aws.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: base.aws.credentials,
    uploadUrlSeconds: settings.uploadUrlSeconds,
    downloadUrlSeconds: settings.downloadUrlSeconds,
    maxAttempts: 3,
  })
}

export function attachmentPolicy(base: Base): AttachmentPolicy {
  const { maxBytes, contentTypes, useWithinSeconds } = base.config.attachments
  return { maxBytes, contentTypes, useWithinSeconds }
}
