-- connect: rendered by test/unit/sql-statements.test.ts; do not edit.
-- The users upsert (users-upsert.ts, shared with REST): creates the user on first contact.
      WITH
    upserted AS (
      INSERT INTO users (subject, email, email_verified, display_name, role)
      SELECT $1, v.email, v.email <> '', $2, $3
      FROM (SELECT CASE WHEN $4::text <> '' AND NOT EXISTS (
          SELECT 1 FROM users o
          WHERE lower(o.email) = lower($5::text) AND o.email_verified AND o.email <> '' AND o.subject <> $6
        ) THEN $7::text ELSE '' END AS email) v
      ON CONFLICT (subject) DO UPDATE
        SET email = CASE WHEN excluded.email = '' THEN users.email ELSE excluded.email END,
          email_verified = users.email_verified OR excluded.email_verified,
          display_name = excluded.display_name, updated_at = now()
        WHERE (excluded.email <> '' AND (users.email IS DISTINCT FROM excluded.email OR NOT users.email_verified))
          OR users.display_name IS DISTINCT FROM excluded.display_name
      RETURNING id, role, disabled_at, email, display_name, trainer_id
    ),
    known_user AS (
      SELECT id, role, disabled_at, email, display_name, trainer_id FROM upserted
      UNION ALL
      SELECT id, role, disabled_at, email, display_name, trainer_id
      FROM users WHERE subject = $8 AND NOT EXISTS (SELECT 1 FROM upserted)
    ),
      me AS (SELECT id, disabled_at FROM known_user),
      live AS (
        SELECT k.slot FROM connections k JOIN me ON k.user_id = me.id WHERE k.expires_at > now()
      ),
      free_slot AS (
        SELECT s AS slot FROM generate_series(1, $9::int) s
        WHERE (SELECT count(*) FROM live) < $10
          AND NOT EXISTS (SELECT 1 FROM live WHERE live.slot = s)
        ORDER BY random() LIMIT 1
      ),
      registered AS (
        INSERT INTO connections (connection_id, user_id, expires_at, slot)
        SELECT $11, me.id, $12, f.slot FROM me, free_slot f
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
--   $2 = "User One"
--   $3 = "user"
--   $4 = "user1@example.com"
--   $5 = "user1@example.com"
--   $6 = "sub-1"
--   $7 = "user1@example.com"
--   $8 = "sub-1"
--   $9 = 10
--   $10 = 10
--   $11 = "conn-AbC123="
--   $12 = "2026-12-01T11:00:00.000Z"
