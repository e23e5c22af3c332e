import middy, { type MiddlewareObj } from '@middy/core'
import { createAttachmentStore } from '../adapters/attachment-store.ts'
import { createErasureStore } from '../adapters/privacy-store.ts'
import { config } from '../config.ts'
import { retryPendingDeletions, type DeletionPorts } from '../core/privacy.ts'
import { sweepUnusedAttachments, type UploadPorts } from '../core/uploads.ts'
import { attachmentPolicy, attachmentStorage } from '../wiring/attachments.ts'
import { createBase } from '../wiring/base.ts'
import { lambdaDatabase } from '../wiring/database.ts'
import { pushNotifier } from '../wiring/push.ts'

export interface SweepPorts extends UploadPorts {
  /** The S3 objects and SNS endpoints erasures still owe (core/privacy.ts). */
  deletions: DeletionPorts
}

/**
 * Scheduled (e.g. hourly): deletes the objects and rows of attachments that no message carries
 * and that can no longer be sent (older than ATTACHMENT_USE_WITHIN_SECONDS plus an hour), and
 * retries the storage deletions an erasure could not finish. One batch of each per run; a busy
 * backlog drains over the next runs.
 */
export function createSweepHandler(ports: SweepPorts, middlewares: MiddlewareObj[] = []) {
  return middy(async (): Promise<{ deleted: number; failed: number; erasureDeletions: { done: number; pending: number } }> => {
    const result = await sweepUnusedAttachments(ports)
    if (result.deleted > 0 || result.failed > 0) ports.log.info('swept unused attachments', result)
    const erasureDeletions = await retryPendingDeletions(ports.deletions)
    if (erasureDeletions.done > 0 || erasureDeletions.pending > 0) ports.log.info('retried erasure deletions', erasureDeletions)
    return { ...result, erasureDeletions }
  }).use(middlewares)
}

const base = createBase(config())
const db = lambdaDatabase(base)
const storage = attachmentStorage(base)
export const handler = createSweepHandler({
  store: createAttachmentStore(db),
  storage,
  policy: attachmentPolicy(base),
  log: base.log,
  deletions: { store: createErasureStore(db), storage, push: pushNotifier(base), log: base.log },
}, base.middlewares)
