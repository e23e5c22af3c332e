import type { Identity } from '../model.ts'
import type { ActivityKey, Page, UserRef } from './model.ts'
import type { AdminPorts } from './ports.ts'

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

/** The audit statements, each one statement inside the request's transaction. */
export interface AuditQueries {
  listAudit(page: { limit: number; after?: ActivityKey | undefined }): Promise<Page<AuditEntry, ActivityKey>>
  record(entry: AuditRecord): Promise<void>
}

export async function listAudit(ports: AdminPorts, identity: Identity, page: { limit: number; after?: ActivityKey | undefined }) {
  const result = await ports.store.transaction(identity, (tx) => tx.listAudit(page))
  return { entries: result.items, nextKey: result.nextKey }
}
