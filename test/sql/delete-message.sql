-- delete-message: rendered by test/unit/sql-statements.test.ts; do not edit.
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
        WHEN f.sender_id <> a.user_id THEN 'not_sender'

        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN found f ON true
    ),
    deleted AS (
      UPDATE messages m SET deleted_at = now()
      FROM access a, message_check c
      WHERE m.id = $4 AND m.conversation_id = a.conversation_id AND m.sender_id = a.user_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL
      RETURNING m.id
    )
    SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
      EXISTS (SELECT 1 FROM deleted) AS deleted,
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
--   $4 = "22222222-2222-4222-8222-222222222222"
