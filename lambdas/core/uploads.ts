import { randomUUID } from 'node:crypto'
import { attachmentKey, normalizeUpload, type AttachmentPolicy, type UploadRequest } from './attachments.ts'
import { assertAccess } from './chat.ts'
import type { Identity } from './model.ts'
import type { AttachmentStorage, AttachmentStore, Log, UploadTicket } from './ports.ts'

/** The upload side of attachments: issuing presigned uploads, and sweeping the ones never sent. */

export interface UploadPorts {
  store: AttachmentStore
  storage: AttachmentStorage
  policy: AttachmentPolicy
  log: Log
}

/**
 * POST /conversations/{id}/attachments:
 * 1. check the declared type and size against the policy (400 before any URL exists);
 * 2. one statement checks the caller may write to the conversation and records the attachment;
 * 3. presign a PUT for exactly that key, type and size.
 */
export async function requestUpload(
  ports: UploadPorts,
  identity: Identity,
  conversationId: string,
  request: UploadRequest,
): Promise<UploadTicket & { attachmentId: string }> {
  const upload = normalizeUpload(ports.policy, request)
  const id = randomUUID()
  const key = attachmentKey(conversationId, id)
  const verdict = await ports.store.create(identity, { id, conversationId, key, ...upload })
  assertAccess(verdict, 'write')
  const ticket = await ports.storage.presignUpload({ key, contentType: upload.contentType, size: upload.size })
  return { attachmentId: id, ...ticket }
}

/**
 * The scheduled sweep: objects of attachments no message carries, once they can no longer be
 * sent, are deleted, then their rows. A row whose object could not be deleted stays for the
 * next run. `graceSeconds` past the use window keeps the sweep clear of a send in flight.
 */
export async function sweepUnusedAttachments(
  ports: Pick<UploadPorts, 'store' | 'storage' | 'policy' | 'log'>,
  options: { graceSeconds?: number; batchSize?: number } = {},
): Promise<{ deleted: number; failed: number }> {
  const candidates = await ports.store.unused(ports.policy.useWithinSeconds + (options.graceSeconds ?? 3600), options.batchSize ?? 500)
  const results = await Promise.allSettled(candidates.map((candidate) => ports.storage.delete(candidate.key)))
  const removed = candidates.filter((_, index) => results[index]?.status === 'fulfilled').map((candidate) => candidate.id)
  const failed = candidates.length - removed.length
  if (failed > 0) ports.log.warn('could not delete some unused attachment objects; they are retried on the next sweep', { failed })
  const deleted = removed.length > 0 ? await ports.store.forget(removed) : 0
  return { deleted, failed }
}
