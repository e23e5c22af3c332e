import type { Identity } from '../model.ts'
import type { ActivityKey } from './model.ts'
import type { AdminPorts } from './ports.ts'

/** The audit trail as admins read it (its rows and statements: model.ts, ports.ts). */

export async function listAudit(ports: AdminPorts, identity: Identity, page: { limit: number; after?: ActivityKey | undefined }) {
  const result = await ports.store.transaction(identity, (tx) => tx.listAudit(page))
  return { entries: result.items, nextKey: result.nextKey }
}
