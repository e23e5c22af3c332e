-- edit-message: rendered by test/unit/sql-statements.test.ts; do not edit.
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
        WHEN f.deleted_at IS NOT NULL OR f.hidden_at IS NOT NULL THEN 'gone'
        WHEN f.created_at < now() - $4::int * interval '1 second' THEN 'window_passed'
        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN found f ON true
    ),
    locked AS (
      SELECT m.id, m.body FROM messages m, access a, message_check c
      WHERE m.id = $5 AND m.conversation_id = a.conversation_id AND m.sender_id = a.user_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
      FOR UPDATE OF m
    ),
    updated AS (
      UPDATE messages m SET body = $6, edited_at = now()
      FROM locked l
      WHERE m.id = l.id
      RETURNING m.*
    ),
    archived AS (
      INSERT INTO message_edits (message_id, body, edited_at)
      SELECT u.id, l.body, u.edited_at FROM updated u JOIN locked l ON l.id = u.id
      RETURNING 1
    )
    SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
      (SELECT json_build_object(
    'id', "u".id, 'conversationId', "u".conversation_id, 'seq', "u".seq, 'senderId', "u".sender_id,
    'body', CASE WHEN "u".hidden_at IS NULL AND "u".deleted_at IS NULL THEN "u".body ELSE '' END,
    'clientMessageId', "u".client_message_id, 'createdAt', "u".created_at, 'readAt', "u".read_at,
    'removed', "u".hidden_at IS NOT NULL,
    'attachment', (
      SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
      FROM attachments att WHERE att.id = "u".attachment_id AND "u".hidden_at IS NULL AND "u".deleted_at IS NULL
    ),
    'editedAt', "u".edited_at, 'deletedAt', "u".deleted_at,
    'replyTo', (
      SELECT json_build_object('id', r.id, 'senderId', r.sender_id, 'preview', CASE WHEN r.hidden_at IS NULL AND r.deleted_at IS NULL THEN CASE WHEN char_length(r.body) <= 100 THEN r.body ELSE left(r.body, 99) || '…' END ELSE '' END)
      FROM messages r WHERE r.id = "u".reply_to_id
    ),
    'reactions', CASE WHEN "u".hidden_at IS NULL AND "u".deleted_at IS NULL THEN "u".reactions ELSE '[]'::jsonb END) FROM updated u) AS message,
      (
    SELECT coalesce(json_agg(json_build_object(
      'connectionId', k.connection_id, 'userId', k.user_id,
      'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
    FROM connections k
    WHERE k.user_id IN (a.member_id, a.trainer_id) AND k.expires_at > now() AND a.conversation_id = ANY (k.joined_conversation_ids)
  ) AS listeners,
      (SELECT count(*) FROM archived) AS archived
    FROM access a;
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "22222222-2222-4222-8222-222222222222"
--   $4 = 900
--   $5 = "22222222-2222-4222-8222-222222222222"
--   $6 = "edited"
