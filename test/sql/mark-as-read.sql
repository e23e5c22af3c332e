-- mark-as-read: rendered by test/unit/sql-statements.test.ts; do not edit.
WITH
    caller AS (
      SELECT u.id AS user_id, u.role, u.disabled_at, k.expires_at
      FROM connections k JOIN users u ON u.id = k.user_id
      WHERE k.connection_id = $1
    ),

    target AS (
      SELECT cv.id, cv.member_id, cv.trainer_id, cv.status, m.trainer_id AS assigned_trainer_id
      FROM conversations cv JOIN users m ON m.id = cv.member_id
      WHERE cv.id = $2
    ),
    access AS (
      SELECT caller.user_id, target.id AS conversation_id, target.member_id, target.trainer_id,
        CASE
          WHEN caller.user_id IS NULL OR caller.expires_at <= now() OR caller.disabled_at IS NOT NULL THEN 'unauthorized'
          WHEN target.id IS NULL THEN 'not_found'
          WHEN NOT (
            (caller.role = 'user' AND caller.user_id = target.member_id AND target.assigned_trainer_id = target.trainer_id)
            OR (caller.role = 'trainer' AND caller.user_id = target.trainer_id AND target.assigned_trainer_id = caller.user_id)
          ) THEN 'forbidden'
          WHEN target.status = 'closed' THEN 'closed'
          ELSE 'ok'
        END AS verdict
      FROM (SELECT 1) AS one LEFT JOIN caller ON true LEFT JOIN target ON true
    ),

    allowance AS (
      INSERT INTO user_limits AS l (user_id, kind, tokens, at)
      SELECT a.user_id, $3, $4::float8 - 1, now() FROM access a WHERE a.verdict = ANY ($5::text[])
      ON CONFLICT (user_id, kind) DO UPDATE SET tokens = least($6::float8, l.tokens + greatest(0, extract(epoch FROM now() - l.at))::float8 * $7::float8) - 1, at = greatest(l.at, now())
        WHERE least($8::float8, l.tokens + greatest(0, extract(epoch FROM now() - l.at))::float8 * $9::float8) >= 1
      RETURNING l.user_id
    ),
        target_message AS (
          SELECT m.seq FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
          WHERE m.id = $10 AND a.verdict IN ('ok', 'closed')
        ),
        marked AS (
          UPDATE messages m SET read_at = now()
          FROM access a, target_message t
          WHERE m.conversation_id = $11 AND m.sender_id <> a.user_id
            AND m.seq <= t.seq AND m.read_at IS NULL
            AND EXISTS (SELECT 1 FROM allowance)
          RETURNING m.id
        )
        SELECT a.verdict, a.user_id, (
    SELECT coalesce(json_agg(json_build_object(
      'connectionId', k.connection_id, 'userId', k.user_id,
      'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
    FROM connections k
    WHERE k.user_id IN (a.member_id, a.trainer_id) AND k.expires_at > now() AND a.conversation_id = ANY (k.joined_conversation_ids)
  ) AS listeners,
          EXISTS (SELECT 1 FROM target_message) AS message_found,
          (SELECT count(*) FROM marked)::int AS marked_count,
          now() AS read_at,
          a.verdict IN ('ok', 'closed') AND NOT EXISTS (SELECT 1 FROM allowance) AS limited,
          (
    SELECT greatest(1, ceil((1 - least($12::float8, l.tokens + greatest(0, extract(epoch FROM now() - l.at))::float8 * $13::float8)) / $14::float8 * 1000))::int
    FROM user_limits l JOIN access a ON l.user_id = a.user_id WHERE l.kind = $15
  ) AS retry_after_ms
        FROM access a;
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "read"
--   $4 = 60
--   $5 = ["ok","closed"]
--   $6 = 60
--   $7 = 5
--   $8 = 60
--   $9 = 5
--   $10 = "22222222-2222-4222-8222-222222222222"
--   $11 = "11111111-1111-4111-8111-111111111111"
--   $12 = 60
--   $13 = 5
--   $14 = 5
--   $15 = "read"
