import middy from '@middy/core'
import { log } from '../adapters/logger.ts'
import { sweepUnusedAttachments } from '../core/uploads.ts'
import { uploadPorts } from '../runtime-attachments.ts'

/**
 * Scheduled (e.g. hourly): deletes the objects and rows of attachments that no message carries
 * and that can no longer be sent (older than ATTACHMENT_USE_WITHIN_SECONDS plus an hour).
 * One batch per run; a busy backlog drains over the next runs.
 */
export async function sweepAttachments(): Promise<{ deleted: number; failed: number }> {
  const result = await sweepUnusedAttachments(uploadPorts())
  if (result.deleted > 0 || result.failed > 0) log.info('swept unused attachments', result)
  return result
}

export const handler = middy(sweepAttachments)
