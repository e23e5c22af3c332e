import { sql, type Kysely } from 'kysely'
import { up as createSendMessageFunction0014 } from './0014_hot_statement_functions.ts'

// Frozen once shipped: never edit, add a new migration instead (CREATE OR REPLACE FUNCTION with
// the same signature keeps callers working; a new signature is a new function).
//
// Issue #12 item 1: trainer_chat_send_message, same signature and result columns as 0014, written
// as a few short statements run in order instead of one statement of twelve CTEs. The caller
// still sends one `SELECT * FROM trainer_chat_send_message(…)`, one round trip.
//
// Why: with its plan cached (0014), the one-statement send still cost about 2.5× a bare INSERT of
// a message, and most of the difference was not work but the plan's size. Every call starts and
// ends the executor for the whole plan: the optional parts (attachment, reply), the push target
// and the rate-limit bucket are all in it, and the gates between the CTEs were scans of other
// CTEs repeated in each. Measured with pgbench on PostgreSQL 15 (synchronous_commit off, so that
// the commit's flush does not hide it): 0.62 ms a call for 0014's send against 0.47 ms for this
// one, 0.25 ms for the bare INSERT (bench/README.md, issue 12 item 1). Here a call runs:
//   1. the participant rule, an earlier message with this clientMessageId (a retry) and the live
//      connections of both participants, in one statement;
//   2. only with an attachment, its check; only with a reply, that the message answered is here;
//   3. the bucket, the seq bump, the insert and the attachment's claim, in one statement;
//   4. only for a recipient with no live connection, the push target.
// A refusal stops after step 1 or 2, a retry after step 1.
//
// What the split changes, and why each is still right:
// - Each statement of a VOLATILE function takes its own snapshot (READ COMMITTED). Step 3's
//   UPDATEs lock their rows and re-read the latest committed version (as 0014's did): the bucket
//   is spent exactly once per token under racing sends of one user, and the bump still finds a
//   conversation an admin closed meanwhile and then stores nothing (the use case answers
//   `conversation_closed`).
// - The bucket is an UPDATE that refills and spends in one step, so 0014's `bucket_raced` column
//   is always false now: when step 3 finds no whole token, a racing send of the same user spent
//   it and has committed (the UPDATE waited for it), so a fresh lookup of this clientMessageId
//   answers a retry with the stored message instead of `rate_limited`, inside the call.
// - Two copies of one clientMessageId racing both miss it in step 1; the loser's insert violates
//   messages_client_id_unique and the whole call rolls back, as before (the store runs it again).
// - The unread counter's trigger (0012) fires when step 3 ends, so step 4 reads a count that
//   already holds the new message (0014 added 1 for it).
// - The participant rule and the message JSON are the text sql-fragments.ts renders
//   (test/unit/sql-statements.test.ts checks it); the rest are 0014's expressions.

/** CTEs `caller`, `target` and `access`: the participant rule for a connection acting on a conversation. */
const ACCESS = `
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
    -- A member may use only the conversation with their assigned trainer; a trainer only
    -- conversations with members assigned to them; admins are never participants.
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
    )`

/** Message row `s` as the JSON object participants see (sql-fragments.ts messageJson). */
const MESSAGE_JSON = `json_build_object(
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
        'reactions', CASE WHEN s.hidden_at IS NULL AND s.deleted_at IS NULL THEN s.reactions ELSE '[]'::jsonb END)`

/** The sender's tokens (users row `u`), refilled to now; now() is the call's start, so a send that waited for the row never counts negative time. */
const REFILLED = `least(p_burst, coalesce(u.send_tokens, p_burst)
          + greatest(0, extract(epoch FROM now() - coalesce(u.send_tokens_at, now())))::float8 * p_per_second)`

/** The earlier message of `sender` with this clientMessageId, as JSON (NULL: none). */
function earlierMessage(sender: string): string {
  return `(SELECT ${MESSAGE_JSON}
      FROM messages s WHERE s.sender_id = ${sender} AND s.client_message_id = p_client_message_id)`
}

const SEND_MESSAGE_FUNCTION = `CREATE OR REPLACE FUNCTION trainer_chat_send_message(
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
DECLARE
  v_user_id uuid;
  v_member_id uuid;
  v_trainer_id uuid;
  v_recipient_online boolean;
BEGIN
  duplicate := false;
  rate_limited := false;
  bucket_raced := false;
  attachment_verdict := 'none';
  reply_found := true;

  -- 1. Who calls and may they write here; a retry's stored message; who is listening.
  WITH ${ACCESS}
  SELECT a.verdict, a.user_id, a.member_id, a.trainer_id, ${earlierMessage('a.user_id')},
    live.listeners, live.recipient_online
  INTO verdict, v_user_id, v_member_id, v_trainer_id, message, listeners, v_recipient_online
  FROM access a
  CROSS JOIN LATERAL (
    SELECT coalesce(json_agg(json_build_object(
        'connectionId', k.connection_id, 'userId', k.user_id,
        'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json) AS listeners,
      -- Both participants' connections are listed: any that is not the sender's is the recipient's.
      coalesce(bool_or(k.user_id <> a.user_id), false) AS recipient_online
    FROM connections k
    WHERE k.user_id IN (a.member_id, a.trainer_id) AND k.expires_at > now()
  ) live;
  user_id := v_user_id;
  IF verdict <> 'ok' THEN RETURN NEXT; RETURN; END IF;
  IF message IS NOT NULL THEN
    duplicate := true;
    RETURN NEXT; RETURN;
  END IF;

  -- 2. The attachment: may the caller send it here? The message answered: is it of this conversation?
  IF p_attachment_id IS NOT NULL THEN
    SELECT CASE
        WHEN att.id IS NULL THEN 'not_found'
        WHEN att.conversation_id IS DISTINCT FROM p_conversation_id OR att.uploader_id IS DISTINCT FROM v_user_id THEN 'forbidden'
        WHEN att.message_id IS NOT NULL THEN 'used'
        WHEN att.created_at < now() - p_attachment_use_within_seconds * interval '1 second' THEN 'expired'
        WHEN p_object_size IS NULL THEN 'not_uploaded'
        WHEN p_object_content_type IS DISTINCT FROM att.content_type THEN 'type_mismatch'
        WHEN p_object_size <> att.size THEN 'size_mismatch'
        ELSE 'ok'
      END
    INTO attachment_verdict
    FROM (SELECT 1) AS one LEFT JOIN attachments att ON att.id = p_attachment_id;
  END IF;
  IF p_reply_to_id IS NOT NULL THEN
    reply_found := EXISTS (SELECT 1 FROM messages r WHERE r.id = p_reply_to_id AND r.conversation_id = p_conversation_id);
  END IF;
  IF attachment_verdict NOT IN ('none', 'ok') OR NOT reply_found THEN RETURN NEXT; RETURN; END IF;

  -- 3. Spend a token, bump seq, store, claim the attachment.
  WITH
    -- The UPDATE locks the sender's row and refills from its latest committed version.
    taken AS (
      UPDATE users u SET send_tokens = ${REFILLED} - 1, send_tokens_at = now()
      WHERE u.id = v_user_id AND ${REFILLED} >= 1
      RETURNING u.id
    ),
    -- The conversation row's lock serializes concurrent senders, so seq is gap-free; a
    -- conversation closed since step 1 is not bumped, and nothing is stored.
    bumped AS (
      UPDATE conversations cv SET last_seq = cv.last_seq + 1, updated_at = now(), last_message_at = now()
      WHERE cv.id = p_conversation_id AND cv.status = 'open' AND EXISTS (SELECT 1 FROM taken)
      RETURNING cv.id, cv.last_seq
    ),
    s AS (
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, attachment_id, reply_to_id)
      SELECT b.id, b.last_seq, v_user_id, p_body, p_client_message_id, p_attachment_id, p_reply_to_id
      FROM bumped b
      RETURNING *
    ),
    -- Two sends racing with one attachment are stopped by the unique index on messages.attachment_id.
    claimed AS (
      UPDATE attachments att SET message_id = s.id
      FROM s
      WHERE att.id = s.attachment_id AND att.message_id IS NULL
      RETURNING att.id
    )
  SELECT NOT EXISTS (SELECT 1 FROM taken), (SELECT ${MESSAGE_JSON} FROM s)
  INTO rate_limited, message;
  IF rate_limited THEN
    -- The send that spent the last token may have been this very message's (a retry racing its
    -- original): this statement's snapshot sees it, committed.
    message := ${earlierMessage('v_user_id')};
    IF message IS NOT NULL THEN
      duplicate := true;
      rate_limited := false;
      RETURN NEXT; RETURN;
    END IF;
    SELECT ${REFILLED} INTO send_tokens FROM users u WHERE u.id = v_user_id;
    RETURN NEXT; RETURN;
  END IF;

  -- 4. The push target: a new message whose recipient has no live connection, is not disabled,
  -- has not muted it and has an enabled device.
  IF message IS NOT NULL AND NOT v_recipient_online THEN
    SELECT json_build_object(
        'recipientId', r.id,
        'senderName', sender.display_name,
        -- The counter (0012) in constant time; its trigger has counted the new message.
        'unreadCount', coalesce((SELECT uu.unread FROM unread_counters uu WHERE uu.user_id = r.id), 0),
        'endpoints', (
          SELECT json_agg(json_build_object('endpointArn', d.endpoint_arn, 'platform', d.platform) ORDER BY d.created_at)
          FROM devices d WHERE d.user_id = r.id AND d.enabled))
    INTO push
    FROM users r JOIN users sender ON sender.id = v_user_id
    WHERE r.id = CASE WHEN v_user_id = v_member_id THEN v_trainer_id ELSE v_member_id END
      AND r.disabled_at IS NULL
      -- Asked again, not taken from step 1: a connection the recipient opened since then heard no frame either.
      AND NOT EXISTS (SELECT 1 FROM connections k WHERE k.user_id = r.id AND k.expires_at > now())
      AND NOT EXISTS (
        SELECT 1 FROM notification_mutes nm
        WHERE nm.user_id = r.id AND (nm.conversation_id IS NULL OR nm.conversation_id = p_conversation_id))
      AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = r.id AND d.enabled);
  END IF;
  RETURN NEXT;
END
$function$`

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql.raw(SEND_MESSAGE_FUNCTION).execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  // 0014's definition again: it is a CREATE FUNCTION, so the function goes first.
  await sql`DROP FUNCTION trainer_chat_send_message(text, uuid, text, text, uuid, text, int, int, uuid, float8, float8)`.execute(db)
  await createSendMessageFunction0014(db)
}
