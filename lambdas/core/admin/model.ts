import type { AttachmentInfo, ConversationStatus, Message, PageSize, Role } from '../model.ts'

/**
 * What admins see and page through (lambdas/http/schemas.ts describes the same shapes for the
 * OpenAPI document), shared by the conversation, user, audit and report use cases.
 */

export const ADMIN_PAGE: PageSize = { defaultLimit: 50, maxLimit: 100 }
export const MAX_REASON_CHARS = 500

export interface UserRef {
  id: string
  email: string
  displayName: string
}

export interface AdminConversation {
  id: string
  status: ConversationStatus
  closedAt: string | null
  closedReason: string | null
  member: UserRef
  trainer: UserRef
  /** seq is gap-free per conversation, so the last seq is the number of messages. */
  messageCount: number
  lastMessageAt: string | null
  createdAt: string
  updatedAt: string
}

/** A message as moderators see it: the original body and attachment even when hidden or deleted, who hid it and why, its earlier versions. */
export interface AdminMessage extends Omit<Message, 'attachment'> {
  attachment: AttachmentInfo | null
  hiddenAt: string | null
  hiddenBy: UserRef | null
  hiddenReason: string | null
  /** Every earlier version of an edited message, oldest first: the body it had until `editedAt`. */
  edits: Array<{ body: string; editedAt: string }>
}

export interface AdminUser extends UserRef {
  role: Role
  trainer: UserRef | null
  disabledAt: string | null
  createdAt: string
}

// ---- Keyset pagination ----

/** The sort key of the last row of a page (timestamps with Postgres' microseconds). */
export interface ActivityKey {
  at: string
  id: string
}
export interface EmailKey {
  email: string
  id: string
}

export interface Page<T, K> {
  items: T[]
  /** The key of the last item when more rows follow, else null. */
  nextKey: K | null
}

/** A change together with the live connections that must hear about it. */
export interface Notified<T> {
  value: T
  connectionIds: string[]
}

/** The audit trail: every admin change writes one row, in the transaction that makes the change. */
export const AUDIT_ACTIONS = [
  'conversation.closed',
  'conversation.reopened',
  'message.hidden',
  'user.trainer_assigned',
  'user.role_changed',
  'user.disabled',
  'user.enabled',
  // Written by core/privacy.ts.
  'user.erased',
  'report.resolved',
] as const
export const AUDIT_TARGETS = ['conversation', 'message', 'user', 'report'] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditEntry {
  id: string
  actor: UserRef
  action: AuditAction
  targetType: (typeof AUDIT_TARGETS)[number]
  targetId: string
  reason: string | null
  details: Record<string, unknown>
  createdAt: string
}

/** An audit row as a use case writes it: the entry, with the actor by id (the store adds id and time). */
export type AuditRecord = Omit<AuditEntry, 'id' | 'actor' | 'createdAt'> & { actorId: string }
