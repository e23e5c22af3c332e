import type { ServerFrame } from '@trainer-chat/protocol'
import type { AdminTransactions } from './admin/actor.ts'
import { auditRecord } from './admin/audit.ts'
import type { AuditRecord } from './admin/model.ts'
import { attachmentKey } from './attachments.ts'
import { ChatError, requireFound } from './errors.ts'
import type { AttachmentInfo, Identity, PageSize, Platform, Role } from './model.ts'
import type { AttachmentStorage, Delivery, Log, PushNotifier } from './ports.ts'

/**
 * Data protection (issue #13): a user's export of everything stored about them, and an admin's
 * erasure of a user. What each covers and does not is written down in docs/privacy.md.
 */

export const EXPORT_PAGE: PageSize = { defaultLimit: 500, maxLimit: 1000 }

/** The name an erased user is shown by, wherever a name appears (admin views, push titles). */
export const ERASED_DISPLAY_NAME = 'Deleted user'
/** Why an erasure closed a conversation (its `closedReason` and the `conversationClosed` frame's reason). */
export const CLOSED_BY_ERASURE = 'user_erased'

// ---- Export ----

/** A message as its sender or recipient gets it in their export. */
export interface ExportMessage {
  id: string
  conversationId: string
  seq: number
  senderId: string
  sentByMe: boolean
  /** The caller's own messages keep their stored body; someone else's removed or deleted message shows ''. */
  body: string
  clientMessageId: string
  createdAt: string
  readAt: string | null
  editedAt: string | null
  deletedAt: string | null
  removed: boolean
  replyToId: string | null
  attachment: (AttachmentInfo & { downloadUrl: string }) | null
}

/** What the export statement reads: attachments are not yet signed. */
export type StoredExportMessage = Omit<ExportMessage, 'attachment'> & { attachment: AttachmentInfo | null }

export interface ExportConversation {
  id: string
  /** The caller's part in it. */
  as: 'member' | 'trainer'
  memberId: string
  trainerId: string
  status: 'open' | 'closed'
  closedAt: string | null
  closedReason: string | null
  createdAt: string
  lastMessageAt: string | null
  messageCount: number
  /** Read state: the highest seq of the other participant's messages the caller has read, and how many they have not. */
  lastReadSeq: number | null
  unreadCount: number
  muted: boolean
}

/**
 * Every section of the export but the messages, which are paged. A section is one entry here,
 * one SQL fragment in adapters/privacy-store.ts and one field in http/privacy-schemas.ts: adding
 * reactions, edits or reports is those three lines.
 */
export interface ExportDocument {
  exportedAt: string
  profile: {
    id: string
    subject: string
    email: string
    displayName: string
    role: Role
    trainerId: string | null
    createdAt: string
    updatedAt: string
  }
  conversations: ExportConversation[]
  /** Registered phones, without their tokens. */
  devices: Array<{ platform: Platform; enabled: boolean; createdAt: string; updatedAt: string }>
  notificationSettings: { muted: boolean; mutedConversationIds: string[] }
  /** Files the caller uploaded and never sent (sent ones are on their messages). */
  unsentUploads: Array<AttachmentInfo & { conversationId: string; createdAt: string; downloadUrl: string }>
  /** Admin actions on the caller's account, with their reasons. */
  accountHistory: Array<{ action: string; reason: string | null; createdAt: string }>
  /** The caller's reactions, one entry per emoji on a message. */
  reactions: Array<{ conversationId: string; messageId: string; emoji: string }>
  /** Earlier versions of the caller's edited messages, oldest first. */
  messageEdits: Array<{ messageId: string; body: string; editedAt: string }>
  /** Reports the caller filed, with their outcome. */
  reportsFiled: Array<{
    id: string
    messageId: string
    reason: string
    note: string | null
    status: 'open' | 'resolved'
    createdAt: string
    resolvedAt: string | null
    resolution: string | null
  }>
}

export type StoredExportDocument = Omit<ExportDocument, 'unsentUploads'> & {
  unsentUploads: Array<AttachmentInfo & { conversationId: string; createdAt: string }>
}

/** Messages are paged in (conversationId, seq) order. */
export interface ExportKey {
  conversationId: string
  seq: number
}

export interface PrivacyQueries {
  /** null when the caller's account is disabled (or erased). */
  exportDocument(identity: Identity): Promise<StoredExportDocument | null>
  /** null when the caller's account is disabled (or erased). */
  exportMessages(
    identity: Identity,
    page: { after?: ExportKey | undefined; limit: number },
  ): Promise<{ messages: StoredExportMessage[]; nextKey: ExportKey | null } | null>
}

export interface ExportPorts {
  queries: PrivacyQueries
  storage: AttachmentStorage
}

/** GET /me/export: every section, with the first page of messages. */
export async function exportDocument(ports: ExportPorts, identity: Identity, limit: number) {
  // One after the other: on a first contact the first statement creates the user, which two
  // concurrent statements would race for.
  const document = await ports.queries.exportDocument(identity)
  if (!document) throw disabled()
  const page = await exportMessages(ports, identity, { limit })
  const unsentUploads = await Promise.all(
    document.unsentUploads.map(async (upload) => ({
      ...upload,
      downloadUrl: await ports.storage.presignDownload({
        key: attachmentKey(upload.conversationId, upload.id),
        fileName: upload.fileName,
        contentType: upload.contentType,
      }),
    })),
  )
  return { ...document, unsentUploads, ...page }
}

/** GET /me/export/messages: the next page of the caller's messages, sent and received, each attachment signed for them. */
export async function exportMessages(
  ports: ExportPorts,
  identity: Identity,
  page: { after?: ExportKey | undefined; limit: number },
): Promise<{ messages: ExportMessage[]; nextKey: ExportKey | null }> {
  const result = await ports.queries.exportMessages(identity, page)
  if (!result) throw disabled()
  const messages = await Promise.all(
    result.messages.map(async (message): Promise<ExportMessage> => {
      const { attachment } = message
      if (!attachment) return { ...message, attachment: null }
      const downloadUrl = await ports.storage.presignDownload({
        key: attachmentKey(message.conversationId, attachment.id),
        fileName: attachment.fileName,
        contentType: attachment.contentType,
      })
      return { ...message, attachment: { ...attachment, downloadUrl } }
    }),
  )
  return { messages, nextKey: result.nextKey }
}

const disabled = () => new ChatError('forbidden', 'This account is disabled')

// ---- Erasure ----

export interface ErasureTarget {
  id: string
  role: Role
  erasedAt: string | null
  /** Members whose assigned trainer is this user. */
  assignedMembers: number
}

export type DeletionKind = 's3_object' | 'push_endpoint'

/** A deletion outside the database that an erasure owes, recorded in the erasing transaction. */
export interface PendingDeletion {
  id: string
  kind: DeletionKind
  /** The object key or the endpoint ARN. */
  target: string
}

export interface ErasedData {
  erasedAt: string
  messagesErased: number
  attachmentsErased: number
  devicesRemoved: number
  deletions: PendingDeletion[]
  /** The erased user's connection rows, deleted: close them after the commit. */
  connectionIds: string[]
}

/** Each method is one statement inside the erasure's transaction. */
export interface ErasureTransaction {
  load(userId: string): Promise<ErasureTarget | null>
  /**
   * Anonymises the profile, empties the bodies of the user's messages and drops their attachments,
   * devices, mutes and connections, recording the storage deletions that this owes.
   */
  erase(userId: string): Promise<ErasedData>
  /** Closes the user's open conversations; each with the live connections that must hear it. */
  closeConversationsOf(userId: string, reason: string): Promise<Array<{ conversationId: string; connectionIds: string[] }>>
  record(entry: AuditRecord): Promise<void>
}

/** `transaction` as AdminStore's: for an admin only, one transaction (may run `work` again on a serialization conflict). */
export interface ErasureStore extends AdminTransactions<ErasureTransaction> {
  /** Erases the user again in a transaction of its own, for the scheduled sweep (no caller). */
  eraseAgain(userId: string): Promise<void>
  /** Deletions not yet done, oldest first. */
  pendingDeletions(limit: number): Promise<PendingDeletion[]>
  /**
   * Erased users that still have something an erasure removes: a write of theirs that committed
   * while the erasing transaction ran (a device registered, a file uploaded) is not in its snapshot.
   */
  erasedWithLeftovers(limit: number): Promise<string[]>
  /** Records the outcome of one attempt at each. */
  settleDeletions(done: readonly string[], failed: ReadonlyArray<{ id: string; error: string }>): Promise<void>
  forgetConnections(connectionIds: readonly string[]): Promise<void>
}

export interface DeletionPorts {
  store: ErasureStore
  storage: AttachmentStorage
  /** Undefined when push is not configured: endpoint deletions then wait until it is. */
  push: PushNotifier | undefined
  log: Log
}

export interface ErasurePorts extends DeletionPorts {
  delivery: Delivery<ServerFrame>
}

export interface Erasure {
  userId: string
  erasedAt: string
  messagesErased: number
  attachmentsErased: number
  devicesRemoved: number
  closedConversationIds: string[]
  closedConnections: number
  /** Storage deletions: done now, or left to the scheduled sweep, which retries them until done. */
  deletions: { done: number; pending: number }
}

/**
 * Erase a user (POST /admin/users/{id}/erase):
 * 1. only an enabled admin; the target must exist, not be erased already, not be an admin (an
 *    admin is demoted first, so nobody erases themselves or the last admin) and, if a trainer,
 *    have no assigned members left (reassign them first: members would be left with nobody);
 * 2. in one transaction: the profile is anonymised (email and name removed, `erasedAt` set, the
 *    account disabled for good), the bodies of the user's messages emptied (they keep their seq,
 *    marked deleted), their attachments, devices, mutes and connection rows deleted, their open
 *    conversations closed (`user_erased`), the S3 objects and SNS endpoints to delete recorded,
 *    and the audit row written;
 * 3. after the commit: the user's live connections are closed (DeleteConnection), the other
 *    participants hear `conversationClosed`, and the recorded deletions are tried once; what
 *    fails is retried by the scheduled sweep until it is done.
 * The other participant's messages stay as they were.
 */
export async function eraseUser(ports: ErasurePorts, identity: Identity, input: { userId: string; reason: string }): Promise<Erasure> {
  const outcome = await ports.store.transaction(identity, async (tx, admin) => {
    const user = requireFound(await tx.load(input.userId), 'User not found')
    if (user.erasedAt !== null) throw new ChatError('conflict', 'This user was already erased', { erasedAt: user.erasedAt })
    if (user.role === 'admin') throw new ChatError('conflict', 'Admins cannot be erased; change their role first')
    if (user.role === 'trainer' && user.assignedMembers > 0) {
      throw new ChatError('conflict', 'This trainer still has assigned members; reassign them first', {
        assignedMembers: user.assignedMembers,
      })
    }
    const erased = await tx.erase(user.id)
    const closed = await tx.closeConversationsOf(user.id, CLOSED_BY_ERASURE)
    // Counts only: the audit trail must not keep what the erasure removed.
    await tx.record(
      auditRecord(admin, 'user.erased', user.id, input.reason, {
        role: user.role,
        messagesErased: erased.messagesErased,
        attachmentsErased: erased.attachmentsErased,
        devicesRemoved: erased.devicesRemoved,
        closedConversationIds: closed.map((c) => c.conversationId),
        closedConnections: erased.connectionIds.length,
      }),
    )
    return { erased, closed }
  })

  const { erased, closed } = outcome
  await Promise.all(erased.connectionIds.map((connectionId) => ports.delivery.disconnect(connectionId).catch(() => {})))
  for (const { conversationId, connectionIds } of closed) {
    await notify(ports, connectionIds, { type: 'conversationClosed', conversationId, reason: CLOSED_BY_ERASURE })
  }
  const deletions = await runDeletions(ports, erased.deletions)
  return {
    userId: input.userId,
    erasedAt: erased.erasedAt,
    messagesErased: erased.messagesErased,
    attachmentsErased: erased.attachmentsErased,
    devicesRemoved: erased.devicesRemoved,
    closedConversationIds: closed.map((c) => c.conversationId),
    closedConnections: erased.connectionIds.length,
    deletions,
  }
}

/**
 * Tries each deletion once, in parallel, and records the outcomes. Deleting an object or an
 * endpoint that is already gone succeeds (both calls are idempotent), so a retry after a lost
 * answer is harmless.
 */
export async function runDeletions(ports: DeletionPorts, deletions: readonly PendingDeletion[]): Promise<{ done: number; pending: number }> {
  if (deletions.length === 0) return { done: 0, pending: 0 }
  const results = await Promise.allSettled(deletions.map((deletion) => deleteOne(ports, deletion)))
  const done: string[] = []
  const failed: Array<{ id: string; error: string }> = []
  results.forEach((result, index) => {
    const { id } = deletions[index] as PendingDeletion
    if (result.status === 'fulfilled') done.push(id)
    else failed.push({ id, error: describeFailure(result.reason) })
  })
  await ports.store.settleDeletions(done, failed)
  if (failed.length > 0) ports.log.warn('some erasure deletions failed; the sweep retries them', { failed: failed.length })
  return { done: done.length, pending: failed.length }
}

/**
 * The scheduled retry: first erase again what writes racing an erasure left behind (erasing is
 * idempotent, and the profile stays as the first erasure left it), then try the oldest deletions
 * not yet done, one batch per run. Connection rows left behind are deleted; their sockets are
 * refused at their next frame, as the rows are gone.
 */
export async function retryPendingDeletions(ports: DeletionPorts, options: { batchSize?: number } = {}) {
  for (const userId of await ports.store.erasedWithLeftovers(options.batchSize ?? 500)) {
    await ports.store.eraseAgain(userId)
  }
  return runDeletions(ports, await ports.store.pendingDeletions(options.batchSize ?? 500))
}

async function deleteOne(ports: DeletionPorts, deletion: PendingDeletion): Promise<void> {
  if (deletion.kind === 's3_object') return ports.storage.delete(deletion.target)
  if (!ports.push) throw new Error('push notifications are not configured')
  return ports.push.deleteEndpoint(deletion.target)
}

/** What is kept of a failure: its name and message, never a request. */
function describeFailure(reason: unknown): string {
  const text = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)
  return text.slice(0, 500)
}

async function notify(ports: ErasurePorts, connectionIds: readonly string[], frame: ServerFrame): Promise<void> {
  if (connectionIds.length === 0) return
  const report = await ports.delivery.post(connectionIds.map((connectionId) => ({ connectionId, frame })))
  if (report.gone.length > 0) await ports.store.forgetConnections(report.gone)
  if (report.failed.length > 0) ports.log.warn('delivery failed for some connections', { failed: report.failed })
}
