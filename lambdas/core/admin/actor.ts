import { ChatError } from '../errors.ts'
import type { Identity, Role } from '../model.ts'
import type { Page } from './model.ts'

/**
 * The one admin check. Every admin request (admin routes, the moderation queue, erasure) is one
 * database transaction whose first statement resolves the caller from their token's subject; the
 * database role, not the token, decides whether they are an admin. The transaction then runs
 * plain statements for an `Admin` only, and any refusal rolls it back, so a refused request
 * changes nothing (not even the row a first-time caller would otherwise leave behind).
 */

/** The caller as the database knows them. */
export interface Actor {
  userId: string
  role: Role
  disabledAt: string | null
}

/** A caller the transaction found to be an enabled admin. */
export type Admin = Actor & { readonly role: 'admin'; readonly disabledAt: null }

/** Only an enabled admin, by the database's account of them, may pass. */
export function requireAdmin(actor: Actor): Admin {
  if (actor.role !== 'admin' || actor.disabledAt !== null) throw new ChatError('forbidden', 'This route requires the admin role')
  return { ...actor, role: actor.role, disabledAt: actor.disabledAt }
}

/**
 * A store whose transactions belong to an admin: `transaction` resolves the caller once, refuses
 * anyone but an enabled admin (`forbidden`; a disabled account is refused by the caller lookup
 * itself) and only then runs `work` with the transaction's statements. A throw rolls everything
 * back. `work` may run again when the database aborts it for a conflict with a concurrent
 * transaction, so it must touch only `tx`.
 */
export interface AdminTransactions<Tx> {
  transaction<T>(identity: Identity, work: (tx: Tx, admin: Admin) => Promise<T>): Promise<T>
}

/** A page of an admin list with its items under the name the route replies with: `{ users, nextKey }`. */
export type NamedPage<N extends string, T, K> = Record<N, T[]> & { nextKey: K | null }

/** Every admin list: one page read in an admin's transaction (`read`), its items named `name`. */
export async function listPage<Tx, N extends string, T, K>(
  store: AdminTransactions<Tx>,
  identity: Identity,
  name: N,
  read: (tx: Tx) => Promise<Page<T, K>>,
): Promise<NamedPage<N, T, K>> {
  const page = await store.transaction(identity, read)
  return { [name]: page.items, nextKey: page.nextKey } as NamedPage<N, T, K>
}
