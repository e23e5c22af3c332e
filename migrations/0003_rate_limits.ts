import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    // The per-user send token bucket, refilled lazily by the send statement itself (no extra round
    // trip). NULL tokens mean a full bucket, so the burst size stays configuration, not data.
    sql`ALTER TABLE users ADD COLUMN send_tokens double precision`,
    sql`ALTER TABLE users ADD COLUMN send_tokens_at timestamptz`,
    // Each live connection holds one of its user's MAX_CONNECTIONS_PER_USER slots. Two $connects
    // racing for the last free slot both see it free in their snapshots; this index makes the
    // second one lose, so the limit is exact. Rows from before this migration have no slot and are
    // still counted by the $connect statement until they go.
    sql`ALTER TABLE connections ADD COLUMN slot smallint`,
    sql`CREATE UNIQUE INDEX connections_user_slot_unique ON connections (user_id, slot)`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX connections_user_slot_unique`.execute(db)
  await sql`ALTER TABLE connections DROP COLUMN slot`.execute(db)
  await sql`ALTER TABLE users DROP COLUMN send_tokens_at`.execute(db)
  await sql`ALTER TABLE users DROP COLUMN send_tokens`.execute(db)
}
