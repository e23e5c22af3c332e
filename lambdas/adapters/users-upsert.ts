import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely'
import { ChatError } from '../core/errors.ts'
import { initialRole, type Identity, type Role } from '../core/model.ts'
import type { Database, UsersTable } from './database-schema.ts'
import { isUniqueViolation } from './sql-fragments.ts'

/**
 * The one users upsert, shared by `$connect`'s statement and every REST statement (through
 * callerFromIdentity), so both sign-ins write the same row from the same token (#11 item 8, #17).
 * CTEs `upserted` and `known_user (id, role, disabled_at, email, display_name, trainer_id, presence_visible)`.
 *
 * - First contact creates the user with the role from their groups; later contacts never change
 *   the role (the database decides roles) but keep the display name current.
 * - The identity's email is verified or '' (core/identity.ts). A verified email is stored and
 *   marked verified unless another user already holds it verified (case-insensitive): then the
 *   row keeps what it had. '' leaves the stored email as it was (a new user has none).
 * - Two first contacts racing with one verified email both pass the "held by someone else?"
 *   check in their snapshots; the unique index users_verified_email_unique stops the second,
 *   whose statement fails as a whole (`isEmailTaken`): the caller runs it again (connect) or
 *   answers `unavailable` with a retry delay (REST), and the retry keeps no email.
 */
export function knownUser(identity: Identity, role: Role): RawBuilder<unknown> {
  return sql`
    upserted AS (${upsertedUser(identity, role)}),
    known_user AS (${knownUserRow(identity)})`
}

/** A users row as the upsert returns it (CTEs `upserted` and `known_user`). */
export type KnownUserRow = Pick<Selectable<UsersTable>, 'id' | 'role' | 'disabled_at' | 'email' | 'display_name' | 'trainer_id' | 'presence_visible'>

/** The body of CTE `upserted`: the insert, or the update of a changed name or email, returning the row. */
export function upsertedUser(identity: Identity, role: Role): RawBuilder<KnownUserRow> {
  const email = identity.email
  return sql<KnownUserRow>`
      INSERT INTO users (subject, email, email_verified, display_name, role)
      SELECT ${identity.subject}, v.email, v.email <> '', ${identity.displayName}, ${role}
      FROM (SELECT CASE WHEN ${email}::text <> '' AND NOT EXISTS (
          SELECT 1 FROM users o
          WHERE lower(o.email) = lower(${email}::text) AND o.email_verified AND o.email <> '' AND o.subject <> ${identity.subject}
        ) THEN ${email}::text ELSE '' END AS email) v
      ON CONFLICT (subject) DO UPDATE
        SET email = CASE WHEN excluded.email = '' THEN users.email ELSE excluded.email END,
          email_verified = users.email_verified OR excluded.email_verified,
          display_name = excluded.display_name, updated_at = now()
        WHERE (excluded.email <> '' AND (users.email IS DISTINCT FROM excluded.email OR NOT users.email_verified))
          OR users.display_name IS DISTINCT FROM excluded.display_name
      RETURNING id, role, disabled_at, email, display_name, trainer_id, presence_visible
    `
}

/** The body of CTE `known_user`, after `upserted`: the upserted row, or the stored one when nothing changed. */
export function knownUserRow(identity: Identity): RawBuilder<KnownUserRow> {
  return sql<KnownUserRow>`
      SELECT id, role, disabled_at, email, display_name, trainer_id, presence_visible FROM upserted
      UNION ALL
      SELECT id, role, disabled_at, email, display_name, trainer_id, presence_visible
      FROM users WHERE subject = ${identity.subject} AND NOT EXISTS (SELECT 1 FROM upserted)
    `
}

/** Whether a statement failed because a racing first contact took the same verified email first. */
export function isEmailTaken(error: unknown): boolean {
  return isUniqueViolation(error, 'users_verified_email_unique')
}

/** SQLSTATE raised by trainer_chat_refuse_disabled (migration 0011). */
const ACCOUNT_DISABLED = 'TC403'

/** Whether a statement failed because its caller's account is disabled. */
function isAccountDisabled(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === ACCOUNT_DISABLED
}

/**
 * The refusal a statement built on the users upsert failed with, as the client sees it: a
 * disabled account (`forbidden`), or the lost race for a verified email (`unavailable`: nothing
 * was stored, the retry succeeds). Undefined for any other failure.
 */
export function callerRefusal(error: unknown): ChatError | undefined {
  if (isAccountDisabled(error)) return new ChatError('forbidden', 'This account is disabled', undefined, { cause: error })
  if (isEmailTaken(error)) {
    return new ChatError('unavailable', 'Your account was being created by another request; nothing was stored, please retry', {
      retryAfterMs: 100,
    }, { cause: error })
  }
  return undefined
}

// ---- the REST caller ----

/**
 * CTE `caller (user_id, role, disabled_at, expires_at, email, display_name, trainer_id)` for a
 * verified identity, after the users upsert's CTEs. A REST caller has no connection, so its
 * "expiry" is the token's, already checked by the JWT authorizer.
 */
export function callerFromIdentity(identity: Identity): RawBuilder<unknown> {
  return sql`
    ${knownUser(identity, initialRole(identity.groups))},
    caller AS (${callerRow})`
}

/** The same CTEs for Kysely's query builder: `withCaller(db, identity).selectFrom('caller')…`, typed from database-schema.ts. */
export function withCaller(db: Kysely<Database>, identity: Identity) {
  return db
    .with('upserted', () => cte(upsertedUser(identity, initialRole(identity.groups))))
    .with('known_user', () => cte(knownUserRow(identity)))
    .with('caller', () => cte(callerRow))
}

/** A raw CTE body as Kysely's `with` takes it: Kysely parenthesizes queries it built, not raw SQL. */
const cte = <T>(body: RawBuilder<T>): RawBuilder<T> => sql<T>`(${body})`

/** A REST caller, as CTE `caller` holds it. */
type CallerRow = Pick<KnownUserRow, 'role' | 'disabled_at' | 'email' | 'display_name' | 'trainer_id'> & { user_id: string; expires_at: Date }

// trainer_chat_refuse_disabled raises for a disabled account (migration 0011), failing the whole
// statement: every REST route refuses a disabled user and nothing it would write is written.
const callerRow = sql<CallerRow>`
      SELECT id AS user_id, role, disabled_at, 'infinity'::timestamptz AS expires_at, email, display_name, trainer_id
      FROM known_user
      WHERE trainer_chat_refuse_disabled(disabled_at)
    `
