-- send-message-with-attachment: rendered by test/unit/sql-statements.test.ts; do not edit.
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
    existing AS (
      SELECT m.* FROM messages m JOIN caller c ON m.sender_id = c.user_id
      WHERE m.client_message_id = $3
    ),

    attachment_check AS (
      SELECT CASE
        WHEN $4::uuid IS NULL THEN 'none'
        WHEN att.id IS NULL THEN 'not_found'
        WHEN att.conversation_id IS DISTINCT FROM a.conversation_id OR att.uploader_id IS DISTINCT FROM a.user_id THEN 'forbidden'
        WHEN att.message_id IS NOT NULL THEN 'used'
        WHEN att.created_at < now() - $5::int * interval '1 second' THEN 'expired'
        WHEN $6::int IS NULL THEN 'not_uploaded'
        WHEN $7::text IS DISTINCT FROM att.content_type THEN 'type_mismatch'
        WHEN $8::int <> att.size THEN 'size_mismatch'
        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN attachments att ON att.id = $9::uuid
    ),

    reply_check AS (
      SELECT $10::uuid IS NULL OR EXISTS (
        SELECT 1 FROM messages r JOIN access a ON r.conversation_id = a.conversation_id WHERE r.id = $11::uuid
      ) AS found
    ),

    bucket AS (
      SELECT u.id,
        -- A plain read sees the snapshot's row version; u (locked) is the latest committed one.
        u.send_tokens_at IS DISTINCT FROM (SELECT s.send_tokens_at FROM users s WHERE s.id = u.id) AS raced,
        least($12::float8, coalesce(u.send_tokens, $13::float8)
        -- now() is the statement's start: a send that waited for this row may see a later
        -- send_tokens_at than its own now(), which must not count as negative time.
        + greatest(0, extract(epoch FROM now() - coalesce(u.send_tokens_at, now())))::float8 * $14::float8) AS tokens
      FROM users u JOIN access a ON u.id = a.user_id
      WHERE a.verdict = 'ok' AND NOT EXISTS (SELECT 1 FROM existing) AND (SELECT verdict FROM attachment_check) IN ('none', 'ok') AND (SELECT found FROM reply_check)
      FOR NO KEY UPDATE OF u
    ),
    taken AS (
      UPDATE users u SET send_tokens = b.tokens - 1, send_tokens_at = now()
      FROM bucket b
      WHERE u.id = b.id AND b.tokens >= 1
      RETURNING u.id
    ),
    bumped AS (
      UPDATE conversations cv SET last_seq = cv.last_seq + 1, updated_at = now(), last_message_at = now()
      FROM access a
      WHERE cv.id = a.conversation_id AND a.verdict = 'ok' AND cv.status = 'open'
        AND NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM taken) AND (SELECT verdict FROM attachment_check) IN ('none', 'ok') AND (SELECT found FROM reply_check)
      RETURNING cv.id, cv.last_seq
    ),
    inserted AS (
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, attachment_id, reply_to_id)
      SELECT b.id, b.last_seq, a.user_id, $15, $16, $17::uuid, $18::uuid
      FROM bumped b, access a
      RETURNING *
    ),

    claimed AS (
      UPDATE attachments att SET message_id = i.id
      FROM inserted i
      WHERE att.id = i.attachment_id AND att.message_id IS NULL
      RETURNING att.id
    ),
    stored AS (
      SELECT i.*, false AS duplicate FROM inserted i
      UNION ALL
      SELECT e.*, true AS duplicate FROM existing e
    )
    SELECT a.verdict, a.user_id,
      (SELECT json_build_object(
    'id', "s".id, 'conversationId', "s".conversation_id, 'seq', "s".seq, 'senderId', "s".sender_id,
    'body', CASE WHEN "s".hidden_at IS NULL AND "s".deleted_at IS NULL THEN "s".body ELSE '' END,
    'clientMessageId', "s".client_message_id, 'createdAt', "s".created_at, 'readAt', "s".read_at,
    'removed', "s".hidden_at IS NOT NULL,
    'attachment', (
      SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
      FROM attachments att WHERE att.id = "s".attachment_id AND "s".hidden_at IS NULL AND "s".deleted_at IS NULL
    ),
    'editedAt', "s".edited_at, 'deletedAt', "s".deleted_at,
    'replyTo', (
      SELECT json_build_object('id', r.id, 'senderId', r.sender_id, 'preview', CASE WHEN r.hidden_at IS NULL AND r.deleted_at IS NULL THEN CASE WHEN char_length(r.body) <= 100 THEN r.body ELSE left(r.body, 99) || '…' END ELSE '' END)
      FROM messages r WHERE r.id = "s".reply_to_id
    ),
    'reactions', CASE WHEN "s".hidden_at IS NULL AND "s".deleted_at IS NULL THEN "s".reactions ELSE '[]'::jsonb END) FROM stored s LIMIT 1) AS message,
      (SELECT s.duplicate FROM stored s LIMIT 1) AS duplicate,
      (
    SELECT coalesce(json_agg(json_build_object(
      'connectionId', k.connection_id, 'userId', k.user_id,
      'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
    FROM connections k
    WHERE k.user_id IN (a.member_id, a.trainer_id) AND k.expires_at > now()
  ) AS listeners,
      EXISTS (SELECT 1 FROM bucket) AND NOT EXISTS (SELECT 1 FROM taken) AS rate_limited,
      (SELECT b.tokens FROM bucket b) AS send_tokens,
      (SELECT b.raced FROM bucket b) AS bucket_raced,
      (SELECT verdict FROM attachment_check) AS attachment_verdict,
      (SELECT found FROM reply_check) AS reply_found,
      (
      SELECT json_build_object(
        'recipientId', r.id,
        'senderName', s.display_name,
        -- The counter (migration 0012, kept by triggers on messages) in constant time; + 1 for
        -- the message being inserted, which its trigger counts only once the statement ends.
        'unreadCount', 1 + coalesce((SELECT uu.unread FROM unread_counters uu WHERE uu.user_id = r.id), 0),
        'endpoints', (
          SELECT json_agg(json_build_object('endpointArn', d.endpoint_arn, 'platform', d.platform) ORDER BY d.created_at)
          FROM devices d WHERE d.user_id = r.id AND d.enabled))
      FROM inserted i
      JOIN users r ON r.id = CASE WHEN a.user_id = a.member_id THEN a.trainer_id ELSE a.member_id END
      JOIN users s ON s.id = a.user_id
      WHERE r.disabled_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM connections k WHERE k.user_id = r.id AND k.expires_at > now())
        AND NOT EXISTS (
          SELECT 1 FROM notification_mutes nm
          WHERE nm.user_id = r.id AND (nm.conversation_id IS NULL OR nm.conversation_id = a.conversation_id))
        AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = r.id AND d.enabled)
    ) AS push
    FROM access a;
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "client-2"
--   $4 = "33333333-3333-4333-8333-333333333333"
--   $5 = 86400
--   $6 = 1234
--   $7 = "image/png"
--   $8 = 1234
--   $9 = "33333333-3333-4333-8333-333333333333"
--   $10 = null
--   $11 = null
--   $12 = 20
--   $13 = 20
--   $14 = 1
--   $15 = ""
--   $16 = "client-2"
--   $17 = "33333333-3333-4333-8333-333333333333"
--   $18 = null
