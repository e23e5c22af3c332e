import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Issue #11 items 8 and 10: a user's email is unique among verified emails, and a REST statement
// run for a disabled account fails as a whole (nothing changes).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    // Every email stored so far was copied from a token without an email_verified check, so none is
    // marked verified: existing duplicates stay as they are and cannot fail the unique index below.
    // A user's next sign-in with a verified email marks theirs (lambdas/adapters/users-upsert.ts).
    sql`ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false`,
    // Case-insensitive, verified emails only ('' is no email). Also the index the upsert's
    // "held by someone else?" lookup uses.
    sql`CREATE UNIQUE INDEX users_verified_email_unique ON users (lower(email)) WHERE email_verified AND email <> ''`,
    // Called in the `caller` CTE of every REST statement: raising aborts the whole statement, so a
    // disabled account's request changes nothing, whatever the statement would have written.
    // SQLSTATE TC403 is ours; the adapters map it to the `forbidden` refusal.
    sql`
      CREATE FUNCTION trainer_chat_refuse_disabled(disabled_at timestamptz) RETURNS boolean
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF disabled_at IS NOT NULL THEN
          RAISE EXCEPTION 'account disabled' USING ERRCODE = 'TC403';
        END IF;
        RETURN true;
      END
      $$`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION trainer_chat_refuse_disabled(timestamptz)`.execute(db)
  await sql`DROP INDEX users_verified_email_unique`.execute(db)
  await sql`ALTER TABLE users DROP COLUMN email_verified`.execute(db)
}
