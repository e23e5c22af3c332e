import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead (CREATE OR REPLACE FUNCTION with
// the same signature keeps callers working; a new signature is a new function).
//
// Issue #12 item 1: the send statement, in a plpgsql function, so that PostgreSQL plans it once
// per backend instead of once per call. Sent as ad-hoc SQL, the statement (a CTE over ~20 table
// references) spent 7.2 ms planning around 2.1 ms of execution. A client-side prepared statement
// would keep the plan, but it lives in the database session: RDS Proxy pins a client to its
// backend connection once it prepares a statement, and a pinned Lambda stops sharing it. A
// plpgsql function caches the plan of each of its statements in the backend, for whichever
// client calls it, so the caller sends an ordinary one-statement `SELECT * FROM
// trainer_chat_send_message(…)` (lambdas/adapters/chat-store.ts), one round trip, no session state.
//
// The body is the send statement as chat-store.ts composed it until now (sql-fragments.ts:
// connectionAccess, sendAllowance, messageJson, listenersJson; chat-store.ts: attachmentCheck,
// replyCheck, claimAttachment, pushTargetJson), verbatim but for the parameters: one static
// statement whose optional parts (the attachment, the reply) are NULL parameters, so every send
// runs the same plan. `RETURN QUERY` runs it as one statement, with the same snapshot rules as
// before: the bucket's FOR NO KEY UPDATE still re-reads the latest committed users row against the
// snapshot (`raced`), and the caller still retries on bucket_raced and on unique violations (the
// error keeps its SQLSTATE and constraint name through the function). No EXCEPTION block: it would
// open a subtransaction on every call.
//
// `SET plan_cache_mode = force_generic_plan`: without it PostgreSQL plans the first five calls of
// a backend with their parameter values and keeps planning per call whenever the generic plan's
// estimate is not clearly cheaper, which is most of what this function saves. Every lookup here is
// by primary key or a unique index, so the parameter values cannot change the best plan
// (bench/README.md, issue 12 item 1, has the EXPLAINs at scale).
//
// `#variable_conflict use_column`: the result columns (verdict, user_id, …) are also plpgsql
// variables; inside the query a name means the column. Parameters are prefixed p_.
const SEND_MESSAGE_FUNCTION = sql`CREATE FUNCTION trainer_chat_send_message(
    p_connection_id text,
    p_conversation_id uuid,
    p_client_message_id text,
    p_body text,
    -- The attachment (NULL: none) and what storage said of its object (NULL size: not uploaded).
    p_attachment_id uuid,
    p_object_content_type text,
    p_object_size int,
    p_attachment_use_within_seconds int,
    -- The message answered (NULL: not a reply).
    p_reply_to_id uuid,
    -- The sender's token bucket.
    p_burst float8,
    p_per_second float8
  )
  RETURNS TABLE (
    verdict text,
    user_id uuid,
    message json,
    duplicate boolean,
    listeners json,
    rate_limited boolean,
    send_tokens float8,
    bucket_raced boolean,
    attachment_verdict text,
    reply_found boolean,
    push json
  )
  LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  AS $function$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH
    caller AS (
      SELECT u.id AS user_id, u.role, u.disabled_at, k.expires_at
      FROM connections k JOIN users u ON u.id = k.user_id
      WHERE k.connection_id = p_connection_id
    ),
    target AS (
      SELECT cv.id, cv.member_id, cv.trainer_id, cv.status, m.trainer_id AS assigned_trainer_id
      FROM conversations cv JOIN users m ON m.id = cv.member_id
      WHERE cv.id = p_conversation_id
    ),
    -- The participant rule: a member may use only the conversation with their assigned trainer; a
    -- trainer only conversations with members assigned to them; admins are never participants.
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
    -- A retry: the sender's earlier message with this clientMessageId.
    existing AS (
      SELECT m.* FROM messages m JOIN caller c ON m.sender_id = c.user_id
      WHERE m.client_message_id = p_client_message_id
    ),
    -- May the caller send this attachment here? 'none' without one.
    attachment_check AS (
      SELECT CASE
        WHEN p_attachment_id IS NULL THEN 'none'
        WHEN att.id IS NULL THEN 'not_found'
        WHEN att.conversation_id IS DISTINCT FROM a.conversation_id OR att.uploader_id IS DISTINCT FROM a.user_id THEN 'forbidden'
        WHEN att.message_id IS NOT NULL THEN 'used'
        WHEN att.created_at < now() - p_attachment_use_within_seconds * interval '1 second' THEN 'expired'
        WHEN p_object_size IS NULL THEN 'not_uploaded'
        WHEN p_object_content_type IS DISTINCT FROM att.content_type THEN 'type_mismatch'
        WHEN p_object_size <> att.size THEN 'size_mismatch'
        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN attachments att ON att.id = p_attachment_id
    ),
    -- The message a reply answers must be of the same conversation. True without a reply.
    reply_check AS (
      SELECT p_reply_to_id IS NULL OR EXISTS (
        SELECT 1 FROM messages r JOIN access a ON r.conversation_id = a.conversation_id WHERE r.id = p_reply_to_id
      ) AS found
    ),
    -- The sender's token bucket, locked: its tokens are the committed value even when the same
    -- user's sends race. Only a send that would store a message reaches it.
    bucket AS (
      SELECT u.id,
        -- A plain read sees the snapshot's row version; u (locked) is the latest committed one.
        u.send_tokens_at IS DISTINCT FROM (SELECT s.send_tokens_at FROM users s WHERE s.id = u.id) AS raced,
        least(p_burst, coalesce(u.send_tokens, p_burst)
        -- now() is the statement's start: a send that waited for this row may see a later
        -- send_tokens_at than its own now(), which must not count as negative time.
        + greatest(0, extract(epoch FROM now() - coalesce(u.send_tokens_at, now())))::float8 * p_per_second) AS tokens
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
    -- The conversation row's lock serializes concurrent senders, so seq is gap-free.
    bumped AS (
      UPDATE conversations cv SET last_seq = cv.last_seq + 1, updated_at = now(), last_message_at = now()
      FROM access a
      WHERE cv.id = a.conversation_id AND a.verdict = 'ok' AND cv.status = 'open'
        AND NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM taken) AND (SELECT verdict FROM attachment_check) IN ('none', 'ok') AND (SELECT found FROM reply_check)
      RETURNING cv.id, cv.last_seq
    ),
    inserted AS (
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, attachment_id, reply_to_id)
      SELECT b.id, b.last_seq, a.user_id, p_body, p_client_message_id, p_attachment_id, p_reply_to_id
      FROM bumped b, access a
      RETURNING *
    ),
    -- Two sends racing with one attachment are stopped by the unique index on messages.attachment_id.
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
      -- The message as clients see it (sql-fragments.ts messageJson).
      (SELECT json_build_object(
        'id', s.id, 'conversationId', s.conversation_id, 'seq', s.seq, 'senderId', s.sender_id,
        'body', CASE WHEN s.hidden_at IS NULL AND s.deleted_at IS NULL THEN s.body ELSE '' END,
        'clientMessageId', s.client_message_id, 'createdAt', s.created_at, 'readAt', s.read_at,
        'removed', s.hidden_at IS NOT NULL,
        'attachment', (
          SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
          FROM attachments att WHERE att.id = s.attachment_id AND s.hidden_at IS NULL AND s.deleted_at IS NULL
        ),
        'editedAt', s.edited_at, 'deletedAt', s.deleted_at,
        'replyTo', (
          SELECT json_build_object('id', r.id, 'senderId', r.sender_id, 'preview', CASE WHEN r.hidden_at IS NULL AND r.deleted_at IS NULL THEN CASE WHEN char_length(r.body) <= 100 THEN r.body ELSE left(r.body, 99) || '…' END ELSE '' END)
          FROM messages r WHERE r.id = s.reply_to_id
        ),
        'reactions', CASE WHEN s.hidden_at IS NULL AND s.deleted_at IS NULL THEN s.reactions ELSE '[]'::jsonb END)
       FROM stored s LIMIT 1) AS message,
      (SELECT s.duplicate FROM stored s LIMIT 1) AS duplicate,
      -- Every live connection of both participants (sql-fragments.ts listenersJson('both', false)).
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
      -- The push target, for a new message whose recipient has no live connection, is not
      -- disabled, has not muted it and has an enabled device.
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
END
$function$`

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await SEND_MESSAGE_FUNCTION.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION trainer_chat_send_message(text, uuid, text, text, uuid, text, int, int, uuid, float8, float8)`.execute(db)
}
