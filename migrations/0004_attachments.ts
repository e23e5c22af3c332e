import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = `
    CREATE TABLE attachments (
      id uuid PRIMARY KEY,
      conversation_id uuid NOT NULL REFERENCES conversations (id),
      uploader_id uuid NOT NULL REFERENCES users (id),
      -- conversations/{conversation_id}/{id}: chosen by the server, never the client's file name.
      object_key text NOT NULL UNIQUE,
      file_name text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
      content_type text NOT NULL,
      size integer NOT NULL CHECK (size > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      -- The message that carries it; NULL while unused. An unused row older than the use window
      -- is swept together with its object.
      message_id uuid UNIQUE REFERENCES messages (id) ON DELETE SET NULL
    );
    CREATE INDEX attachments_unused_idx ON attachments (created_at) WHERE message_id IS NULL;
    ALTER TABLE messages ADD CONSTRAINT messages_attachment_fk FOREIGN KEY (attachment_id) REFERENCES attachments (id);
    -- Two sends racing with one attachment both pass the unused check in their snapshots; this makes the second fail.
    CREATE UNIQUE INDEX messages_attachment_unique ON messages (attachment_id) WHERE attachment_id IS NOT NULL;
  `
  for (const statement of statements.split(/;\s*$/m).map((text) => text.trim()).filter(Boolean)) {
    await sql.raw(statement).execute(db)
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX messages_attachment_unique`.execute(db)
  await sql`ALTER TABLE messages DROP CONSTRAINT messages_attachment_fk`.execute(db)
  await sql`DROP TABLE attachments`.execute(db)
}
