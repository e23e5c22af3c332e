import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Full-text search over message bodies and the reports members and trainers file (issue #13).
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = `
    -- Kept by PostgreSQL itself: an edited body re-indexes, an erased (emptied) one leaves the index.
    -- The configuration is named, so the expression is immutable as a generated column requires.
    ALTER TABLE messages ADD COLUMN search tsvector
      GENERATED ALWAYS AS (to_tsvector('english'::regconfig, body)) STORED;
    -- Only what participants may find: hidden and deleted messages are left out of the index,
    -- and the search statements carry the same predicate so the planner can use it.
    CREATE INDEX messages_search_idx ON messages USING gin (search)
      WHERE hidden_at IS NULL AND deleted_at IS NULL;

    CREATE TABLE reports (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      reporter_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      reason text NOT NULL CHECK (reason IN ('harassment', 'spam', 'inappropriate', 'other')),
      note text CHECK (length(note) <= 1000),
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
      created_at timestamptz NOT NULL DEFAULT now(),
      resolved_at timestamptz,
      resolved_by uuid REFERENCES users (id),
      resolution text CHECK (resolution IN ('dismiss', 'hide_message', 'close_conversation', 'disable_user')),
      resolution_note text,
      CHECK ((status = 'open') = (resolved_at IS NULL) AND (status = 'open') = (resolution IS NULL))
    );
    -- One open report per user per message; once resolved, the same user may report it again.
    CREATE UNIQUE INDEX reports_open_unique ON reports (message_id, reporter_id) WHERE status = 'open';
    -- GET /admin/reports pages newest first by (created_at, id), optionally by status.
    CREATE INDEX reports_status_recent_idx ON reports (status, created_at DESC, id DESC);
    CREATE INDEX reports_recent_idx ON reports (created_at DESC, id DESC);

    -- Resolving a report writes an audit row about the report.
    ALTER TABLE audit_log DROP CONSTRAINT audit_log_target_type_check;
    ALTER TABLE audit_log ADD CONSTRAINT audit_log_target_type_check
      CHECK (target_type IN ('conversation', 'message', 'user', 'report'))
  `
  for (const statement of statements.split(/;\s*$/m).map((text) => text.trim()).filter(Boolean)) {
    await sql.raw(statement).execute(db)
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DELETE FROM audit_log WHERE target_type = 'report'`.execute(db)
  await sql`ALTER TABLE audit_log DROP CONSTRAINT audit_log_target_type_check`.execute(db)
  await sql`ALTER TABLE audit_log ADD CONSTRAINT audit_log_target_type_check CHECK (target_type IN ('conversation', 'message', 'user'))`.execute(db)
  await sql`DROP TABLE reports`.execute(db)
  await sql`DROP INDEX messages_search_idx`.execute(db)
  await sql`ALTER TABLE messages DROP COLUMN search`.execute(db)
}
