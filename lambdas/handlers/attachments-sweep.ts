import middy, { type MiddlewareObj } from '@middy/core'
import { createAttachmentStore } from '../adapters/attachment-store.ts'
import { config } from '../config.ts'
import { sweepUnusedAttachments, type UploadPorts } from '../core/uploads.ts'
import { attachmentPolicy, attachmentStorage } from '../wiring/attachments.ts'
import { createBase } from '../wiring/base.ts'
import { lambdaDatabase } from '../wiring/database.ts'

/**
 * Scheduled (e.g. hourly): deletes the objects and rows of attachments that no message carries
 * and that can no longer be sent (older than ATTACHMENT_USE_WITHIN_SECONDS plus an hour).
 * One batch per run; a busy backlog drains over the next runs.
 */
export function createSweepHandler(ports: UploadPorts, middlewares: MiddlewareObj[] = []) {
  return middy(async (): Promise<{ deleted: number; failed: number }> => {
    const result = await sweepUnusedAttachments(ports)
    if (result.deleted > 0 || result.failed > 0) ports.log.info('swept unused attachments', result)
    return result
  }).use(middlewares)
}

const base = createBase(config())
export const handler = createSweepHandler({
  store: createAttachmentStore(lambdaDatabase(base)),
  storage: attachmentStorage(base),
  policy: attachmentPolicy(base),
  log: base.log,
}, base.middlewares)
