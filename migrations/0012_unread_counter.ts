import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Issue #12 item 3: the offline push badge (the recipient's unread messages over all their
// conversations) read from a counter instead of counted on every send, which read every unread
// row of the recipient (10^5 rows for a backlog of 10^5).
//
// A message counts for a participant of its conversation who did not send it, while it is
// unread (read_at IS NULL), not hidden by an admin (hidden_at IS NULL) and not deleted by its sender
// (deleted_at IS NULL): the same predicate
// the count in the send statement used. Statement-level triggers with transition tables keep
// the counter, so every statement that inserts messages or changes read_at / hidden_at (send,
// markAsRead, an admin hiding a message, and any statement added later) maintains it in the
// same statement and the same round trip, with one counter update per affected user and
// statement however many rows it touched (markAsRead marks a whole backlog at once).
//
// The counters live in a table of their own, not in users: the send statement already locks the
// sender's users row (the rate-limit bucket), so counting into the recipient's users row would
// let two participants sending to each other at once lock the two rows in opposite orders.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = [
    sql`CREATE TABLE unread_counters (
      user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      unread integer NOT NULL DEFAULT 0
    )`,
    // Each trigger writes one counter row per affected user, in user order, so two statements
    // touching the same users lock their counters in the same order.
    sql`CREATE FUNCTION unread_counters_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO unread_counters AS u (user_id, unread)
        SELECT p.user_id, count(*)::int
        FROM new_rows n
        JOIN conversations cv ON cv.id = n.conversation_id
        CROSS JOIN LATERAL (VALUES (cv.member_id), (cv.trainer_id)) p (user_id)
        WHERE p.user_id <> n.sender_id AND n.read_at IS NULL AND n.hidden_at IS NULL AND n.deleted_at IS NULL
        GROUP BY p.user_id ORDER BY p.user_id
        ON CONFLICT (user_id) DO UPDATE SET unread = u.unread + excluded.unread;
        RETURN NULL;
      END
    $$`,
    sql`CREATE FUNCTION unread_counters_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Most updates (edits, deletes, a markAsRead with nothing left to mark) change no read
        -- state: only rows whose counted state flipped take part.
        INSERT INTO unread_counters AS u (user_id, unread)
        SELECT p.user_id, sum(CASE WHEN n.read_at IS NULL AND n.hidden_at IS NULL AND n.deleted_at IS NULL THEN 1 ELSE -1 END)::int
        FROM old_rows o
        JOIN new_rows n ON n.id = o.id
        JOIN conversations cv ON cv.id = n.conversation_id
        CROSS JOIN LATERAL (VALUES (cv.member_id), (cv.trainer_id)) p (user_id)
        WHERE p.user_id <> n.sender_id
          AND (o.read_at IS NULL AND o.hidden_at IS NULL AND o.deleted_at IS NULL) IS DISTINCT FROM (n.read_at IS NULL AND n.hidden_at IS NULL AND n.deleted_at IS NULL)
        GROUP BY p.user_id
        HAVING sum(CASE WHEN n.read_at IS NULL AND n.hidden_at IS NULL AND n.deleted_at IS NULL THEN 1 ELSE -1 END) <> 0
        ORDER BY p.user_id
        ON CONFLICT (user_id) DO UPDATE SET unread = u.unread + excluded.unread;
        RETURN NULL;
      END
    $$`,
    sql`CREATE FUNCTION unread_counters_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE unread_counters u SET unread = u.unread - d.removed
        FROM (
          SELECT p.user_id, count(*)::int AS removed
          FROM old_rows o
          JOIN conversations cv ON cv.id = o.conversation_id
          CROSS JOIN LATERAL (VALUES (cv.member_id), (cv.trainer_id)) p (user_id)
          WHERE p.user_id <> o.sender_id AND o.read_at IS NULL AND o.hidden_at IS NULL AND o.deleted_at IS NULL
          GROUP BY p.user_id
        ) d
        WHERE u.user_id = d.user_id;
        RETURN NULL;
      END
    $$`,
    sql`CREATE TRIGGER messages_unread_on_insert AFTER INSERT ON messages
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION unread_counters_on_insert()`,
    sql`CREATE TRIGGER messages_unread_on_update AFTER UPDATE ON messages
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION unread_counters_on_update()`,
    sql`CREATE TRIGGER messages_unread_on_delete AFTER DELETE ON messages
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION unread_counters_on_delete()`,
    // Backfill: every user's count as the send statement computed it until now.
    sql`INSERT INTO unread_counters (user_id, unread)
      SELECT p.user_id, count(*)::int
      FROM messages m
      JOIN conversations cv ON cv.id = m.conversation_id
      CROSS JOIN LATERAL (VALUES (cv.member_id), (cv.trainer_id)) p (user_id)
      WHERE p.user_id <> m.sender_id AND m.read_at IS NULL AND m.hidden_at IS NULL AND m.deleted_at IS NULL
      GROUP BY p.user_id`,
  ]
  for (const statement of statements) await statement.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  const statements = [
    sql`DROP TRIGGER messages_unread_on_delete ON messages`,
    sql`DROP TRIGGER messages_unread_on_update ON messages`,
    sql`DROP TRIGGER messages_unread_on_insert ON messages`,
    sql`DROP FUNCTION unread_counters_on_delete()`,
    sql`DROP FUNCTION unread_counters_on_update()`,
    sql`DROP FUNCTION unread_counters_on_insert()`,
    sql`DROP TABLE unread_counters`,
  ]
  for (const statement of statements) await statement.execute(db)
}
