import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// The message columns the chat features of issue #13 share (edit, delete, replies), added in one
// migration so that search, export and erasure can rely on them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    // Set by editMessage: the body is the newest version; earlier ones are kept for admins.
    sql`ALTER TABLE messages ADD COLUMN edited_at timestamptz`,
    // Set by deleteMessage: the row keeps its seq; participants see an empty body and no attachment.
    sql`ALTER TABLE messages ADD COLUMN deleted_at timestamptz`,
    // The message this one answers, always of the same conversation (checked by sendMessage).
    sql`ALTER TABLE messages ADD COLUMN reply_to_id uuid REFERENCES messages (id)`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE messages DROP COLUMN reply_to_id, DROP COLUMN deleted_at, DROP COLUMN edited_at`.execute(db)
}
