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
      RETURNING id, role, disabled_at, email, display_name, trainer_id, presence_visible
    ),
    known_user AS (
      SELECT id, role, disabled_at, email, display_name, trainer_id, presence_visible FROM upserted
      UNION ALL
      SELECT id, role, disabled_at, email, display_name, trainer_id, presence_visible
      FROM users WHERE subject = $8 AND NOT EXISTS (SELECT 1 FROM upserted)
    ),
      me AS (SELECT id, disabled_at, role, trainer_id, presence_visible FROM known_user),
      live AS (
        SELECT k.slot, k.connection_id, k.connected_at FROM connections k JOIN me ON k.user_id = me.id WHERE ("k".expires_at > now() AND "k".connected_at > now() - $9::int * interval '1 second')
      ),
      free_slot AS (
        SELECT s AS slot FROM generate_series(1, $10::int) s
        WHERE (SELECT count(*) FROM live) < $11
          AND NOT EXISTS (SELECT 1 FROM live WHERE live.slot = s)
        ORDER BY random() LIMIT 1
      ),
      registered AS (
        INSERT INTO connections (connection_id, user_id, expires_at, slot)
        SELECT $12, me.id, $13, f.slot FROM me, free_slot f
        WHERE me.disabled_at IS NULL AND f.slot IS NOT NULL
        ON CONFLICT (user_id, slot) DO UPDATE
          SET connection_id = excluded.connection_id, expires_at = excluded.expires_at,
            connected_at = now(), joined_conversation_ids = '{}'
          WHERE NOT ("connections".expires_at > now() AND "connections".connected_at > now() - $14::int * interval '1 second')
        RETURNING connection_id
      )
      SELECT me.id AS user_id, me.disabled_at IS NOT NULL AS disabled, EXISTS (SELECT 1 FROM registered) AS registered,
        EXISTS (SELECT 1 FROM free_slot) AS had_room,
        -- Presence: the user's first live connection (none in the snapshot), and they share it.
        CASE WHEN EXISTS (SELECT 1 FROM registered) AND NOT EXISTS (SELECT 1 FROM live) AND me.presence_visible
          THEN (
    SELECT coalesce(json_agg(json_build_object('conversationId', cv.id, 'connectionIds', other.ids)), '[]'::json)
    FROM conversations cv
    CROSS JOIN LATERAL (
      SELECT array_agg(k.connection_id ORDER BY k.connection_id) AS ids FROM connections k
      WHERE k.user_id = CASE WHEN cv.member_id = "me".id THEN cv.trainer_id ELSE cv.member_id END
        AND ("k".expires_at > now() AND "k".connected_at > now() - $15::int * interval '1 second') AND NOT (k.connection_id = ANY ($16::text[]))
    ) other
    WHERE other.ids IS NOT NULL AND (
      ("me".role = 'user' AND cv.member_id = "me".id AND cv.trainer_id = "me".trainer_id)
      OR ("me".role = 'trainer' AND cv.trainer_id = "me".id
          AND EXISTS (SELECT 1 FROM users member WHERE member.id = cv.member_id AND member.trainer_id = "me".id))
    )
  ) ELSE '[]'::json END AS online,
        -- At the limit: the oldest live connections, the likeliest to be gone without a $disconnect.
        CASE WHEN me.disabled_at IS NULL AND NOT EXISTS (SELECT 1 FROM free_slot) THEN
          ARRAY(SELECT l.connection_id FROM live l ORDER BY l.connected_at, l.connection_id LIMIT $17) END AS oldest
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
--   $9 = 7200
--   $10 = 10
--   $11 = 10
--   $12 = "conn-AbC123="
--   $13 = "2026-12-01T11:00:00.000Z"
--   $14 = 7200
--   $15 = 7200
--   $16 = []
--   $17 = 5
