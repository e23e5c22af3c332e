import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Presence (#13) and the per-user limits of typing, join/leave and markAsRead (#11 item 13).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    // PUT /me/presence {visible}: false shows the user offline, with no last-seen time, to everyone.
    sql`ALTER TABLE users ADD COLUMN presence_visible boolean NOT NULL DEFAULT true`,
    // When the user's last live connection went away ($disconnect or a 410 cleanup). Its own table:
    // written on every disconnect, it stays off the users row that sends lock.
    sql`
      CREATE TABLE user_presence (
        user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        last_seen_at timestamptz NOT NULL
      )`,
    // One token bucket per user and kind ('typing', 'join', 'read'), refilled lazily by the
    // statement of the action itself (no extra round trip). A row is made on first use, full
    // minus the token spent, so the burst size stays configuration, not data.
    sql`
      CREATE TABLE user_limits (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind text NOT NULL,
        tokens double precision NOT NULL,
        at timestamptz NOT NULL,
        PRIMARY KEY (user_id, kind)
      )`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE user_limits`.execute(db)
  await sql`DROP TABLE user_presence`.execute(db)
  await sql`ALTER TABLE users DROP COLUMN presence_visible`.execute(db)
}
