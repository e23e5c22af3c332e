import { sql, type Kysely } from 'kysely'
import * as z from 'zod/mini'
import { requireAdmin, type Admin } from '../core/admin/actor.ts'
import type { AuditRecord } from '../core/admin/model.ts'
import { ChatError } from '../core/errors.ts'
import { ROLES, type Identity } from '../core/model.ts'
import type { Database } from './database-schema.ts'
import { isUniqueViolation, single, toIso } from './sql-fragments.ts'
import { callerFromIdentity } from './users-upsert.ts'

/**
 * What every admin transaction (admin-store.ts, report-store.ts, privacy-store.ts) is made of:
 * SERIALIZABLE with retries, the caller resolved once at its start, and the audit rows its
 * changes write.
 */

/**
 * Runs `work` in one SERIALIZABLE transaction, again (up to MAX_ATTEMPTS) when Postgres aborts
 * it for a conflict with a concurrent one. A unique violation is a `conflict` too unless
 * `uniqueViolation: 'rethrow'` (the erasure's choice: it opens no conversation, see below).
 */
export async function runSerializable<T>(
  db: Kysely<Database>,
  work: (trx: Kysely<Database>) => Promise<T>,
  options: { uniqueViolation?: 'conflict' | 'rethrow' } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().setIsolationLevel('serializable').execute(work)
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code
      if (RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue
      // A unique violation here is the one-open-conversation index losing a race that SSI did not catch.
      if (RETRYABLE.has(code) || (options.uniqueViolation !== 'rethrow' && isUniqueViolation(error))) {
        throw new ChatError('conflict', 'A concurrent change got in the way; try again', undefined, { cause: error })
      }
      throw error
    }
  }
}

const SERIALIZATION_FAILURE = '40001'
const DEADLOCK_DETECTED = '40P01'
const RETRYABLE = new Set<unknown>([SERIALIZATION_FAILURE, DEADLOCK_DETECTED])
const MAX_ATTEMPTS = 3

const CallerRow = z.object({
  user_id: z.string(),
  role: z.enum(ROLES),
  disabled_at: z.nullable(z.union([z.date(), z.string()])),
})

/**
 * The transaction's first statement: the caller by their token's subject (created on first
 * contact, as on every REST route; a disabled account fails the statement, `forbidden`), who
 * must be an enabled admin (`forbidden` otherwise). A refusal throws, so the transaction rolls
 * back, the first contact's row included.
 */
export async function resolveAdmin(trx: Kysely<Database>, identity: Identity): Promise<Admin> {
  const { rows } = await sql<unknown>`
    WITH ${callerFromIdentity(identity)}
    SELECT user_id, role, disabled_at FROM caller`.execute(trx)
  const row = CallerRow.parse(single(rows))
  return requireAdmin({ userId: row.user_id, role: row.role, disabledAt: row.disabled_at === null ? null : toIso(row.disabled_at) })
}

/**
 * An admin request's transaction: resolves the caller once, refusing anyone but an enabled admin,
 * then runs `work` with the plain statements `statements` makes (AdminTransactions in
 * core/admin/actor.ts).
 */
export function adminTransaction<Tx, T>(
  db: Kysely<Database>,
  identity: Identity,
  statements: (trx: Kysely<Database>) => Tx,
  work: (tx: Tx, admin: Admin) => Promise<T>,
  options?: Parameters<typeof runSerializable>[2],
): Promise<T> {
  return runSerializable(db, async (trx) => work(statements(trx), await resolveAdmin(trx, identity)), options)
}

/** Writes one audit row, in the transaction of the change it records. */
export async function recordAudit(trx: Kysely<Database>, entry: AuditRecord): Promise<void> {
  await trx
    .insertInto('audit_log')
    .values({
      actor_id: entry.actorId,
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId,
      reason: entry.reason,
      details: JSON.stringify(entry.details),
    })
    .execute()
}
