import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Edits and reactions of issue #13 (0006 added messages.edited_at, deleted_at and reply_to_id).
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = `
    -- Every earlier version of an edited message, for admins: the body it had until edited_at.
    CREATE TABLE message_edits (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      body text NOT NULL,
      edited_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX message_edits_message_idx ON message_edits (message_id, id);

    -- The reactions as clients see them, [{emoji, userIds}] in the order each emoji was first used.
    -- Kept in the message row rather than a table of its own: the react statement updates it under
    -- the row lock, so the list it returns (and fans out) is exact even when two reactions race,
    -- which a read of another table in the same statement's snapshot could not be.
    ALTER TABLE messages ADD COLUMN reactions jsonb NOT NULL DEFAULT '[]'::jsonb;
  `
  for (const statement of statements.split(/;\s*$/m).map((text) => text.trim()).filter(Boolean)) {
    await sql.raw(statement).execute(db)
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE messages DROP COLUMN reactions`.execute(db)
  await sql`DROP TABLE message_edits`.execute(db)
}
