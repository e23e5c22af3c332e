import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    sql`CREATE TABLE audit_log (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      actor_id uuid NOT NULL REFERENCES users (id),
      -- Checked by the application's types: a new kind of action needs no migration.
      action text NOT NULL,
      target_type text NOT NULL CHECK (target_type IN ('conversation', 'message', 'user')),
      target_id uuid NOT NULL,
      reason text,
      details jsonb NOT NULL DEFAULT '{}',
      -- The transaction's time: the audit row and the change it records share it.
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
    // GET /admin/audit pages newest first by (created_at, id).
    sql`CREATE INDEX audit_log_recent_idx ON audit_log (created_at DESC, id DESC)`,
    // GET /admin/users pages by (email, id), optionally within one role.
    sql`CREATE INDEX users_email_idx ON users (email, id)`,
    sql`CREATE INDEX users_role_email_idx ON users (role, email, id)`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX users_role_email_idx`.execute(db)
  await sql`DROP INDEX users_email_idx`.execute(db)
  await sql`DROP TABLE audit_log`.execute(db)
}
