-- connect: rendered by test/unit/sql-statements.test.ts; do not edit.
WITH upserted AS (
        INSERT INTO users (subject, email, display_name, role)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (subject) DO UPDATE SET email = excluded.email, display_name = excluded.display_name, updated_at = now()
          WHERE users.email IS DISTINCT FROM excluded.email OR users.display_name IS DISTINCT FROM excluded.display_name
        RETURNING id, disabled_at
      ),
      me AS (
        SELECT id, disabled_at FROM upserted
        UNION ALL
        SELECT id, disabled_at FROM users WHERE subject = $5 AND NOT EXISTS (SELECT 1 FROM upserted)
      ),
      live AS (
        SELECT k.slot FROM connections k JOIN me ON k.user_id = me.id WHERE k.expires_at > now()
      ),
      free_slot AS (
        SELECT s AS slot FROM generate_series(1, $6::int) s
        WHERE (SELECT count(*) FROM live) < $7
          AND NOT EXISTS (SELECT 1 FROM live WHERE live.slot = s)
        ORDER BY random() LIMIT 1
      ),
      registered AS (
        INSERT INTO connections (connection_id, user_id, expires_at, slot)
        SELECT $8, me.id, $9, f.slot FROM me, free_slot f
        WHERE me.disabled_at IS NULL AND f.slot IS NOT NULL
        ON CONFLICT (user_id, slot) DO UPDATE
          SET connection_id = excluded.connection_id, expires_at = excluded.expires_at,
            connected_at = now(), joined_conversation_ids = '{}'
          WHERE connections.expires_at <= now()
        RETURNING connection_id
      )
      SELECT me.id AS user_id, me.disabled_at IS NOT NULL AS disabled, EXISTS (SELECT 1 FROM registered) AS registered,
        EXISTS (SELECT 1 FROM free_slot) AS had_room
      FROM me;
-- parameters:
--   $1 = "sub-1"
--   $2 = "user1@example.com"
--   $3 = "User One"
--   $4 = "user"
--   $5 = "sub-1"
--   $6 = 10
--   $7 = 10
--   $8 = "conn-AbC123="
--   $9 = "2026-12-01T11:00:00.000Z"
