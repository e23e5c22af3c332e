import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Erasure (issue #13, data protection): an erased account, and the storage deletions that must
// outlive the request that erased it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    // Set by POST /admin/users/{id}/erase, with email and display name removed. The row stays: the
    // other participant's messages and the audit trail point at it, and its subject must keep being refused.
    sql`ALTER TABLE users ADD COLUMN erased_at timestamptz`,
    sql`ALTER TABLE users ADD CONSTRAINT users_erased_is_disabled CHECK (erased_at IS NULL OR disabled_at IS NOT NULL)`,
    // The sweep looks for erased users that racing writes left something behind for.
    sql`CREATE INDEX users_erased_idx ON users (erased_at) WHERE erased_at IS NOT NULL`,
    // Erasure is for good whatever statement touches the row later: the sign-in upserts (which copy
    // the token's email and name), enabling the account, any future identity linking. Done in the
    // database so no application statement needs to remember it.
    sql`CREATE FUNCTION users_stay_erased() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.email := OLD.email;
        NEW.display_name := OLD.display_name;
        NEW.erased_at := OLD.erased_at;
        NEW.disabled_at := OLD.disabled_at;
        NEW.subject := OLD.subject;
        RETURN NEW;
      END
    $$`,
    sql`CREATE TRIGGER users_stay_erased BEFORE UPDATE ON users
      FOR EACH ROW WHEN (OLD.erased_at IS NOT NULL) EXECUTE FUNCTION users_stay_erased()`,
    // Deletions outside the database (S3 objects, SNS endpoints) that an erasure owes: recorded in
    // the erasing transaction, tried right after it commits, retried by the scheduled sweep until done.
    sql`CREATE TABLE pending_deletions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      kind text NOT NULL CHECK (kind IN ('s3_object', 'push_endpoint')),
      -- The object key or the endpoint ARN.
      target text NOT NULL,
      user_id uuid NOT NULL REFERENCES users (id),
      created_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      last_attempt_at timestamptz,
      last_error text,
      done_at timestamptz,
      CONSTRAINT pending_deletions_unique UNIQUE (kind, target)
    )`,
    sql`CREATE INDEX pending_deletions_todo_idx ON pending_deletions (created_at) WHERE done_at IS NULL`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE pending_deletions`.execute(db)
  await sql`DROP TRIGGER users_stay_erased ON users`.execute(db)
  await sql`DROP FUNCTION users_stay_erased()`.execute(db)
  await sql`DROP INDEX users_erased_idx`.execute(db)
  await sql`ALTER TABLE users DROP CONSTRAINT users_erased_is_disabled, DROP COLUMN erased_at`.execute(db)
}
