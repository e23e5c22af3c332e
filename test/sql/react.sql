-- react: rendered by test/unit/sql-statements.test.ts; do not edit.
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

    found AS (
      SELECT m.id, m.sender_id, m.created_at, m.hidden_at, m.deleted_at, m.reactions
      FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
      WHERE m.id = $3 AND a.verdict IN ('ok', 'closed')
    ),
    message_check AS (
      SELECT CASE
        WHEN f.id IS NULL THEN 'not_found'

        WHEN f.deleted_at IS NOT NULL OR f.hidden_at IS NOT NULL THEN 'gone'

        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN found f ON true
    ),
    reacted AS (
      UPDATE messages m SET reactions = CASE
        WHEN NOT $4::boolean THEN (
          SELECT coalesce(jsonb_agg(x.e ORDER BY x.ord), '[]'::jsonb) FROM (
            SELECT y.ord, CASE WHEN y.e->>'emoji' = $5::text THEN jsonb_set(y.e, '{userIds}', (y.e->'userIds') - a.user_id::text) ELSE y.e END AS e
            FROM jsonb_array_elements(m.reactions) WITH ORDINALITY y(e, ord)
          ) x
          WHERE jsonb_array_length(x.e->'userIds') > 0)
        WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(m.reactions) e WHERE e->>'emoji' = $6::text) THEN (
          SELECT jsonb_agg(CASE WHEN y.e->>'emoji' = $7::text THEN jsonb_set(y.e, '{userIds}', (y.e->'userIds') || jsonb_build_array(to_jsonb(a.user_id::text))) ELSE y.e END ORDER BY y.ord)
          FROM jsonb_array_elements(m.reactions) WITH ORDINALITY y(e, ord))
        ELSE m.reactions || jsonb_build_array(jsonb_build_object('emoji', $8::text, 'userIds', jsonb_build_array(to_jsonb(a.user_id::text))))
      END
      FROM access a, message_check c
      WHERE m.id = $9 AND m.conversation_id = a.conversation_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
        -- Only a change: the caller's reaction stands otherwise than asked.
        AND EXISTS (
          SELECT 1 FROM jsonb_array_elements(m.reactions) e WHERE e->>'emoji' = $10::text AND e->'userIds' @> jsonb_build_array(to_jsonb(a.user_id::text))
        ) <> $11::boolean
      RETURNING m.reactions
    )
    SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
      EXISTS (SELECT 1 FROM reacted) AS changed,
      coalesce((SELECT r.reactions FROM reacted r), (SELECT f.reactions FROM found f)) AS reactions,
      (
    SELECT coalesce(json_agg(json_build_object(
      'connectionId', k.connection_id, 'userId', k.user_id,
      'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
    FROM connections k
    WHERE k.user_id IN (a.member_id, a.trainer_id) AND k.expires_at > now() AND a.conversation_id = ANY (k.joined_conversation_ids)
  ) AS listeners
    FROM access a;
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "22222222-2222-4222-8222-222222222222"
--   $4 = true
--   $5 = "💪"
--   $6 = "💪"
--   $7 = "💪"
--   $8 = "💪"
--   $9 = "22222222-2222-4222-8222-222222222222"
--   $10 = "💪"
--   $11 = true
