import type { Identity } from '../model.ts'
import { type Admin, listPage } from './actor.ts'
import type { ActivityKey, AuditAction, AuditRecord } from './model.ts'
import type { AdminPorts } from './ports.ts'

/** The audit trail as admins write and read it (its rows and statements: model.ts, ports.ts). */

/** The kind of target an action is about, the part before its dot: `message.hidden` is about a message. */
type TargetOf<A extends AuditAction> = A extends `${infer Target}.${string}` ? Target : never

/**
 * The audit row of a change `admin` makes to one target (`targetId`), written in the change's own
 * transaction. The target's type follows from the action, so the two cannot disagree.
 */
export function auditRecord<A extends AuditAction>(
  admin: Admin,
  action: A,
  targetId: string,
  reason: string | null,
  details: Record<string, unknown>,
): AuditRecord {
  const targetType = action.slice(0, action.indexOf('.')) as TargetOf<A>
  return { actorId: admin.userId, action, targetType, targetId, reason, details }
}

export function listAudit(ports: AdminPorts, identity: Identity, page: { limit: number; after?: ActivityKey | undefined }) {
  return listPage(ports.store, identity, 'entries', (tx) => tx.listAudit(page))
}
