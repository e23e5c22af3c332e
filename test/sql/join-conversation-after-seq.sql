-- join-conversation-after-seq: rendered by test/unit/sql-statements.test.ts; do not edit.
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
        joined AS (
          UPDATE connections k
          SET joined_conversation_ids = array_append(array_remove(k.joined_conversation_ids, a.conversation_id), a.conversation_id)
          FROM access a, allowance
          WHERE k.connection_id = $10 AND a.verdict IN ('ok', 'closed')
          RETURNING 1
        ),
        page AS (
          -- Filter on the parameter, not a join with access: only then does the planner walk the
          -- (conversation_id, seq) index and stop after limit+1 rows instead of sorting them all.
          SELECT m.* FROM messages m
          WHERE m.conversation_id = $11
            AND EXISTS (SELECT 1 FROM access a WHERE a.verdict IN ('ok', 'closed'))
            AND EXISTS (SELECT 1 FROM allowance) AND m.seq > $12 ORDER BY m.seq ASC LIMIT $13
        ),
        walked AS (
    SELECT j.seq, j.message,
      row_number() OVER (ORDER BY j.seq ASC) AS n,
      sum(octet_length(j.message::text) + j.url_reserve) OVER (ORDER BY j.seq ASC ROWS UNBOUNDED PRECEDING) AS bytes
    FROM (
      SELECT p.seq, json_build_object(
    'id', "p".id, 'conversationId', "p".conversation_id, 'seq', "p".seq, 'senderId', "p".sender_id,
    'body', CASE WHEN "p".hidden_at IS NULL AND "p".deleted_at IS NULL THEN "p".body ELSE '' END,
    'clientMessageId', "p".client_message_id, 'createdAt', "p".created_at, 'readAt', "p".read_at,
    'removed', "p".hidden_at IS NOT NULL,
    'attachment', (
      SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
      FROM attachments att WHERE att.id = "p".attachment_id AND "p".hidden_at IS NULL AND "p".deleted_at IS NULL
    ),
    'editedAt', "p".edited_at, 'deletedAt', "p".deleted_at,
    'replyTo', (
      SELECT json_build_object('id', r.id, 'senderId', r.sender_id, 'preview', CASE WHEN r.hidden_at IS NULL AND r.deleted_at IS NULL THEN CASE WHEN char_length(r.body) <= 100 THEN r.body ELSE left(r.body, 99) || '…' END ELSE '' END)
      FROM messages r WHERE r.id = "p".reply_to_id
    ),
    'reactions', CASE WHEN "p".hidden_at IS NULL AND "p".deleted_at IS NULL THEN "p".reactions ELSE '[]'::jsonb END) AS message,
        coalesce((
          SELECT 4096 + 8 * octet_length(att.file_name)
          FROM attachments att WHERE att.id = p.attachment_id AND p.hidden_at IS NULL
        ), 0) AS url_reserve
      FROM page p
    ) j
  )
        SELECT a.verdict, a.user_id,
          CASE WHEN EXISTS (SELECT 1 FROM allowance) THEN (
    SELECT coalesce(json_agg(json_build_object(
      'connectionId', k.connection_id, 'userId', k.user_id,
      'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
    FROM connections k
    WHERE k.user_id = CASE WHEN a.user_id = a.member_id THEN a.trainer_id ELSE a.member_id END AND k.expires_at > now() AND a.conversation_id = ANY (k.joined_conversation_ids)
  ) ELSE '[]'::json END AS listeners,
          (SELECT coalesce(json_agg(w.message ORDER BY w.seq), '[]'::json) FROM walked w
            WHERE w.n <= $14 AND (w.n = 1 OR w.bytes <= 98304)) AS messages,
          (SELECT count(*) FROM page) AS fetched,
          (SELECT count(*) FROM joined) AS joined,
          a.verdict IN ('ok', 'closed') AND NOT EXISTS (SELECT 1 FROM allowance) AS limited,
          (
    SELECT greatest(1, ceil((1 - least($15::float8, l.tokens + greatest(0, extract(epoch FROM now() - l.at))::float8 * $16::float8)) / $17::float8 * 1000))::int
    FROM user_limits l JOIN access a ON l.user_id = a.user_id WHERE l.kind = $18
  ) AS retry_after_ms
        FROM access a;
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "join"
--   $4 = 60
--   $5 = ["ok","closed"]
--   $6 = 60
--   $7 = 2
--   $8 = 60
--   $9 = 2
--   $10 = "conn-AbC123="
--   $11 = "11111111-1111-4111-8111-111111111111"
--   $12 = 7
--   $13 = 51
--   $14 = 50
--   $15 = 60
--   $16 = 2
--   $17 = 2
--   $18 = "join"
