import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead (CREATE OR REPLACE FUNCTION with
// the same signature keeps callers working; a new signature is a new function).
//
// Issue #12 item 1 and #17 item 4: every other WebSocket statement of lambdas/adapters/chat-store.ts
// in a plpgsql function, as 0014 did for the send statement and for the same reason: sent as ad
// hoc SQL, each of these CTE statements was planned on every call, and planning cost more than
// running it (bench/README.md, issue 12 item 1, has the EXPLAIN figures). A plpgsql function
// caches the plan of each of its statements per backend for whichever client calls it, so the
// store still sends one ordinary statement, `SELECT * FROM trainer_chat_<action>(…)`, one round
// trip, with no client-side prepared statement, so RDS Proxy keeps multiplexing.
//
// Each body is the statement chat-store.ts composed until now (the fragments of sql-fragments.ts
// and users-upsert.ts written out), verbatim but for the parameters, which are p_ names; the
// constants the store passed as parameters (limits, the byte budget, the connection lifetime)
// stay parameters, so their values still live in the application. The pieces every function
// shares (the access CTEs, the per-user bucket, the listeners) are composed below from one text
// each, so that within this migration each rule is written once.
//
// As in 0014: one `RETURN QUERY` per call (joinConversation picks one of two, the newest page or
// the page after a seq, which were two statements before and keep their own plans), the same
// snapshot and locking rules as the ad hoc statement, errors keep their SQLSTATE and constraint
// (the store's retries on unique violations are unchanged), no EXCEPTION block (it would open a
// subtransaction on every call), `plan_cache_mode = force_generic_plan` (every lookup is by
// primary key or a unique index, so the parameter values cannot change the best plan), and
// `#variable_conflict use_column` (a result column's name inside a query means the column).

/** CTEs `caller`, `target` and `access`: the participant rule for a connection acting on a conversation (sql-fragments.ts connectionAccess). */
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

/** The caller's bucket of `kind` refilled to now, from row `l` of user_limits (parameters p_burst, p_per_second). */
const REFILLED = `least(p_burst, l.tokens + greatest(0, extract(epoch FROM now() - l.at))::float8 * p_per_second)`

/**
 * CTE `allowance (user_id)`: spends one token of the caller's `kind` bucket, one row when it did;
 * only a caller whose verdict is in `verdicts` reaches it (sql-fragments.ts userAllowance). The
 * upsert locks the bucket row and reads its latest committed version, so racing actions of one
 * user share one exact bucket.
 */
function allowance(kind: string, verdicts: string): string {
  return `
    allowance AS (
      INSERT INTO user_limits AS l (user_id, kind, tokens, at)
      SELECT a.user_id, '${kind}', p_burst - 1, now() FROM access a WHERE a.verdict IN (${verdicts})
      ON CONFLICT (user_id, kind) DO UPDATE SET tokens = ${REFILLED} - 1, at = greatest(l.at, now())
        WHERE ${REFILLED} >= 1
      RETURNING l.user_id
    )`
}

/** Columns `limited` and `retry_after_ms`: a participant whose bucket had no whole token, and when it will. */
function limitedColumns(kind: string): string {
  return `a.verdict IN ('ok', 'closed') AND NOT EXISTS (SELECT 1 FROM allowance) AS limited,
      (
        SELECT greatest(1, ceil((1 - ${REFILLED}) / p_per_second * 1000))::int
        FROM user_limits l JOIN access a ON l.user_id = a.user_id WHERE l.kind = '${kind}'
      ) AS retry_after_ms`
}

/**
 * Live connections for the conversation of `access a` as a JSON array (sql-fragments.ts
 * listenersJson): of `both` participants or the `other` one than the caller, all or `joined` only.
 */
function listeners(who: 'both' | 'other', joined: boolean): string {
  const users = who === 'both'
    ? 'k.user_id IN (a.member_id, a.trainer_id)'
    : 'k.user_id = CASE WHEN a.user_id = a.member_id THEN a.trainer_id ELSE a.member_id END'
  return `(
        SELECT coalesce(json_agg(json_build_object(
          'connectionId', k.connection_id, 'userId', k.user_id,
          'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
        FROM connections k
        WHERE ${users} AND k.expires_at > now()${joined ? ' AND a.conversation_id = ANY (k.joined_conversation_ids)' : ''}
      )`
}

/** `listeners('other', true)`, or none when the action spent no token (nothing is relayed). */
const ALLOWED_LISTENERS = `CASE WHEN EXISTS (SELECT 1 FROM allowance) THEN ${listeners('other', true)} ELSE '[]'::json END`

/** Whether connection row `k` can still be live: token not expired, younger than API Gateway's 2 hours (sql-fragments.ts liveConnection). */
function live(k: string): string {
  return `(${k}.expires_at > now() AND ${k}.connected_at > now() - p_max_connection_seconds::int * interval '1 second')`
}

/**
 * Scalar JSON array `[{conversationId, connectionIds}]`: for each conversation user row `u` may
 * use, the other participant's live connections not in `excluded` (sql-fragments.ts presenceAudiences).
 */
function presenceAudiences(u: string, excluded: string): string {
  return `(
        SELECT coalesce(json_agg(json_build_object('conversationId', cv.id, 'connectionIds', other.ids)), '[]'::json)
        FROM conversations cv
        CROSS JOIN LATERAL (
          SELECT array_agg(k.connection_id ORDER BY k.connection_id) AS ids FROM connections k
          WHERE k.user_id = CASE WHEN cv.member_id = ${u}.id THEN cv.trainer_id ELSE cv.member_id END
            AND ${live('k')} AND NOT (k.connection_id = ANY (${excluded}))
        ) other
        WHERE other.ids IS NOT NULL AND (
          (${u}.role = 'user' AND cv.member_id = ${u}.id AND cv.trainer_id = ${u}.trainer_id)
          OR (${u}.role = 'trainer' AND cv.trainer_id = ${u}.id
              AND EXISTS (SELECT 1 FROM users member WHERE member.id = cv.member_id AND member.trainer_id = ${u}.id))
        )
      )`
}

/** A message row `m` as the JSON object participants see (sql-fragments.ts messageJson; 0014 holds the same). */
function messageJson(m: string): string {
  const visible = `${m}.hidden_at IS NULL AND ${m}.deleted_at IS NULL`
  return `json_build_object(
        'id', ${m}.id, 'conversationId', ${m}.conversation_id, 'seq', ${m}.seq, 'senderId', ${m}.sender_id,
        'body', CASE WHEN ${visible} THEN ${m}.body ELSE '' END,
        'clientMessageId', ${m}.client_message_id, 'createdAt', ${m}.created_at, 'readAt', ${m}.read_at,
        'removed', ${m}.hidden_at IS NOT NULL,
        'attachment', (
          SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
          FROM attachments att WHERE att.id = ${m}.attachment_id AND ${visible}
        ),
        'editedAt', ${m}.edited_at, 'deletedAt', ${m}.deleted_at,
        'replyTo', (
          SELECT json_build_object('id', r.id, 'senderId', r.sender_id, 'preview', CASE WHEN r.hidden_at IS NULL AND r.deleted_at IS NULL THEN CASE WHEN char_length(r.body) <= 100 THEN r.body ELSE left(r.body, 99) || '…' END ELSE '' END)
          FROM messages r WHERE r.id = ${m}.reply_to_id
        ),
        'reactions', CASE WHEN ${visible} THEN ${m}.reactions ELSE '[]'::jsonb END)`
}

/**
 * CTEs `found` and `message_check (verdict)`: how message p_message_id stands towards the caller,
 * read in the statement's snapshot (chat-store.ts messageCheck); the action's UPDATE re-checks on
 * the latest row. `window`: whether p_edit_window_seconds applies.
 */
function messageCheck(rules: { sender: boolean; visible: boolean; window: boolean }): string {
  return `
    found AS (
      SELECT m.id, m.sender_id, m.created_at, m.hidden_at, m.deleted_at, m.reactions
      FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
      WHERE m.id = p_message_id AND a.verdict IN ('ok', 'closed')
    ),
    message_check AS (
      SELECT CASE
        WHEN f.id IS NULL THEN 'not_found'${rules.sender ? `
        WHEN f.sender_id <> a.user_id THEN 'not_sender'` : ''}${rules.visible ? `
        WHEN f.deleted_at IS NOT NULL OR f.hidden_at IS NOT NULL THEN 'gone'` : ''}${rules.window ? `
        WHEN f.created_at < now() - p_edit_window_seconds * interval '1 second' THEN 'window_passed'` : ''}
        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN found f ON true
    )`
}

const TYPING = `
  RETURN QUERY
  WITH ${ACCESS},
    ${allowance('typing', `'ok'`)}
  SELECT a.verdict, a.user_id, ${ALLOWED_LISTENERS} AS listeners,
    ${limitedColumns('typing')}
  FROM access a;`

const MARK_AS_READ = `
  RETURN QUERY
  WITH ${ACCESS},
    ${allowance('read', `'ok', 'closed'`)},
    target_message AS (
      SELECT m.seq FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
      WHERE m.id = p_message_id AND a.verdict IN ('ok', 'closed')
    ),
    marked AS (
      UPDATE messages m SET read_at = now()
      FROM access a, target_message t
      WHERE m.conversation_id = p_conversation_id AND m.sender_id <> a.user_id
        AND m.seq <= t.seq AND m.read_at IS NULL
        AND EXISTS (SELECT 1 FROM allowance)
      RETURNING m.id
    )
  SELECT a.verdict, a.user_id, ${listeners('both', true)} AS listeners,
    EXISTS (SELECT 1 FROM target_message) AS message_found,
    (SELECT count(*) FROM marked)::int AS marked_count,
    now() AS read_at,
    ${limitedColumns('read')}
  FROM access a;`

/**
 * The join statement for the newest page or the page after p_after_seq. `allowance` gates the
 * join and the history query, so a refused join neither subscribes, nor reads, nor tells anyone.
 * `walked`: each message's JSON, its position in the walk and the running weight of the page
 * (the JSON as PostgreSQL renders it plus, for an attachment, the reserve for the download URL
 * signed later: core/history-page.ts), so the page is bounded by bytes in the same statement.
 */
function joinConversation(from: 'newest' | 'oldest'): string {
  const page = from === 'newest' ? 'ORDER BY m.seq DESC LIMIT p_limit + 1' : 'AND m.seq > p_after_seq ORDER BY m.seq ASC LIMIT p_limit + 1'
  const order = from === 'newest' ? 'ORDER BY j.seq DESC' : 'ORDER BY j.seq ASC'
  return `
    RETURN QUERY
    WITH ${ACCESS},
      ${allowance('join', `'ok', 'closed'`)},
      joined AS (
        UPDATE connections k
        SET joined_conversation_ids = array_append(array_remove(k.joined_conversation_ids, a.conversation_id), a.conversation_id)
        FROM access a, allowance
        WHERE k.connection_id = p_connection_id AND a.verdict IN ('ok', 'closed')
        RETURNING 1
      ),
      page AS (
        -- Filter on the parameter, not a join with access: only then does the planner walk the
        -- (conversation_id, seq) index and stop after limit+1 rows instead of sorting them all.
        SELECT m.* FROM messages m
        WHERE m.conversation_id = p_conversation_id
          AND EXISTS (SELECT 1 FROM access a WHERE a.verdict IN ('ok', 'closed'))
          AND EXISTS (SELECT 1 FROM allowance) ${page}
      ),
      walked AS (
        SELECT j.seq, j.message,
          row_number() OVER (${order}) AS n,
          sum(octet_length(j.message::text) + j.url_reserve) OVER (${order} ROWS UNBOUNDED PRECEDING) AS bytes
        FROM (
          SELECT p.seq, ${messageJson('p')} AS message,
            coalesce((
              SELECT p_url_reserve_bytes + p_url_bytes_per_name_byte * octet_length(att.file_name)
              FROM attachments att WHERE att.id = p.attachment_id AND p.hidden_at IS NULL
            ), 0) AS url_reserve
          FROM page p
        ) j
      )
    SELECT a.verdict, a.user_id, ${ALLOWED_LISTENERS} AS listeners,
      (SELECT coalesce(json_agg(w.message ORDER BY w.seq), '[]'::json) FROM walked w
        WHERE w.n <= p_limit AND (w.n = 1 OR w.bytes <= p_budget_bytes)) AS messages,
      (SELECT count(*) FROM page) AS fetched,
      (SELECT count(*) FROM joined) AS joined,
      ${limitedColumns('join')}
    FROM access a;`
}

const JOIN_CONVERSATION = `
  -- Two statements, as before: each walks the (conversation_id, seq) index in its own direction.
  IF p_after_seq IS NULL THEN${joinConversation('newest')}
  ELSE${joinConversation('oldest')}
  END IF;`

const LEAVE_CONVERSATION = `
  RETURN QUERY
  WITH ${ACCESS},
    ${allowance('join', `'ok', 'closed'`)},
    left_conversation AS (
      UPDATE connections k SET joined_conversation_ids = array_remove(k.joined_conversation_ids, a.conversation_id)
      FROM access a, allowance
      WHERE k.connection_id = p_connection_id AND a.verdict IN ('ok', 'closed')
      RETURNING 1
    )
  SELECT a.verdict, a.user_id, ${ALLOWED_LISTENERS} AS listeners,
    (SELECT count(*) FROM left_conversation) AS left_count,
    ${limitedColumns('join')}
  FROM access a;`

const EDIT_MESSAGE = `
  RETURN QUERY
  WITH ${ACCESS},
    ${messageCheck({ sender: true, visible: true, window: true })},
    locked AS (
      SELECT m.id, m.body FROM messages m, access a, message_check c
      WHERE m.id = p_message_id AND m.conversation_id = a.conversation_id AND m.sender_id = a.user_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
      FOR UPDATE OF m
    ),
    updated AS (
      UPDATE messages m SET body = p_body, edited_at = now()
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
    (SELECT ${messageJson('u')} FROM updated u) AS message,
    ${listeners('both', true)} AS listeners,
    (SELECT count(*) FROM archived) AS archived
  FROM access a;`

const DELETE_MESSAGE = `
  RETURN QUERY
  WITH ${ACCESS},
    ${messageCheck({ sender: true, visible: false, window: false })},
    deleted AS (
      UPDATE messages m SET deleted_at = now()
      FROM access a, message_check c
      WHERE m.id = p_message_id AND m.conversation_id = a.conversation_id AND m.sender_id = a.user_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL
      RETURNING m.id
    )
  SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
    EXISTS (SELECT 1 FROM deleted) AS deleted,
    ${listeners('both', true)} AS listeners
  FROM access a;`

/**
 * The new reactions list is computed by the UPDATE from the row it locks: two racing reactions
 * are serialized by the row lock and READ COMMITTED re-evaluates the second's SET and WHERE on
 * the row the first wrote, so neither is lost.
 */
const REACT = `
  RETURN QUERY
  WITH ${ACCESS},
    ${messageCheck({ sender: false, visible: true, window: false })},
    reacted AS (
      UPDATE messages m SET reactions = CASE
        WHEN NOT p_on THEN (
          SELECT coalesce(jsonb_agg(x.e ORDER BY x.ord), '[]'::jsonb) FROM (
            SELECT y.ord, CASE WHEN y.e->>'emoji' = p_emoji THEN jsonb_set(y.e, '{userIds}', (y.e->'userIds') - a.user_id::text) ELSE y.e END AS e
            FROM jsonb_array_elements(m.reactions) WITH ORDINALITY y(e, ord)
          ) x
          WHERE jsonb_array_length(x.e->'userIds') > 0)
        WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(m.reactions) e WHERE e->>'emoji' = p_emoji) THEN (
          SELECT jsonb_agg(CASE WHEN y.e->>'emoji' = p_emoji THEN jsonb_set(y.e, '{userIds}', (y.e->'userIds') || jsonb_build_array(to_jsonb(a.user_id::text))) ELSE y.e END ORDER BY y.ord)
          FROM jsonb_array_elements(m.reactions) WITH ORDINALITY y(e, ord))
        ELSE m.reactions || jsonb_build_array(jsonb_build_object('emoji', p_emoji, 'userIds', jsonb_build_array(to_jsonb(a.user_id::text))))
      END
      FROM access a, message_check c
      WHERE m.id = p_message_id AND m.conversation_id = a.conversation_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
        -- Only a change: the caller's reaction stands otherwise than asked.
        AND EXISTS (
          SELECT 1 FROM jsonb_array_elements(m.reactions) e WHERE e->>'emoji' = p_emoji AND e->'userIds' @> jsonb_build_array(to_jsonb(a.user_id::text))
        ) <> p_on
      RETURNING m.reactions
    )
  SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
    EXISTS (SELECT 1 FROM reacted) AS changed,
    coalesce((SELECT r.reactions FROM reacted r), (SELECT f.reactions FROM found f)) AS reactions,
    ${listeners('both', true)} AS listeners
  FROM access a;`

/**
 * $connect: the users upsert (users-upsert.ts knownUser, which REST statements still compose), then
 * the connection in a free slot of the user's p_max_connections (the unique (user_id, slot) index
 * makes the limit exact under racing connects; the store runs the statement again on a lost race),
 * the other participants to tell the user is online, and at the limit the oldest live connections.
 */
const CONNECT = `
  RETURN QUERY
  WITH
    upserted AS (
      INSERT INTO users (subject, email, email_verified, display_name, role)
      SELECT p_subject, v.email, v.email <> '', p_display_name, p_role
      FROM (SELECT CASE WHEN p_email::text <> '' AND NOT EXISTS (
          SELECT 1 FROM users o
          WHERE lower(o.email) = lower(p_email::text) AND o.email_verified AND o.email <> '' AND o.subject <> p_subject
        ) THEN p_email::text ELSE '' END AS email) v
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
      FROM users WHERE subject = p_subject AND NOT EXISTS (SELECT 1 FROM upserted)
    ),
    me AS (SELECT id, disabled_at, role, trainer_id, presence_visible FROM known_user),
    live AS (
      SELECT k.slot, k.connection_id, k.connected_at FROM connections k JOIN me ON k.user_id = me.id WHERE ${live('k')}
    ),
    free_slot AS (
      SELECT s AS slot FROM generate_series(1, p_max_connections) s
      WHERE (SELECT count(*) FROM live) < p_max_connections
        AND NOT EXISTS (SELECT 1 FROM live WHERE live.slot = s)
      ORDER BY random() LIMIT 1
    ),
    registered AS (
      INSERT INTO connections (connection_id, user_id, expires_at, slot)
      SELECT p_connection_id, me.id, p_expires_at, f.slot FROM me, free_slot f
      WHERE me.disabled_at IS NULL AND f.slot IS NOT NULL
      ON CONFLICT (user_id, slot) DO UPDATE
        SET connection_id = excluded.connection_id, expires_at = excluded.expires_at,
          connected_at = now(), joined_conversation_ids = '{}'
        WHERE NOT ${live('connections')}
      RETURNING connection_id
    )
  SELECT me.id AS user_id, me.disabled_at IS NOT NULL AS disabled, EXISTS (SELECT 1 FROM registered) AS registered,
    EXISTS (SELECT 1 FROM free_slot) AS had_room,
    -- Presence: the user's first live connection (none in the snapshot), and they share it.
    CASE WHEN EXISTS (SELECT 1 FROM registered) AND NOT EXISTS (SELECT 1 FROM live) AND me.presence_visible
      THEN ${presenceAudiences('me', `'{}'::text[]`)} ELSE '[]'::json END AS online,
    -- At the limit: the oldest live connections, the likeliest to be gone without a $disconnect.
    CASE WHEN me.disabled_at IS NULL AND NOT EXISTS (SELECT 1 FROM free_slot) THEN
      ARRAY(SELECT l.connection_id FROM live l ORDER BY l.connected_at, l.connection_id LIMIT p_stale_probe_count) END AS oldest
  FROM me;`

/**
 * $disconnect, or connections API Gateway reported gone: delete the rows and report who went
 * offline and which conversations a user left (chat-store.ts forgetConnections has the rules).
 * p_established_only (a fan-out's 410) keeps rows that may still be inside their own $connect.
 */
const FORGET_CONNECTIONS = `
  RETURN QUERY
  WITH gone AS (
      DELETE FROM connections WHERE connection_id = ANY (p_connection_ids)
        AND (NOT p_established_only OR cardinality(joined_conversation_ids) > 0 OR connected_at < now() - p_connect_grace_seconds * interval '1 second')
      RETURNING user_id, joined_conversation_ids
    ),
    remaining AS (
      SELECT k.user_id, k.joined_conversation_ids FROM connections k
      WHERE k.user_id IN (SELECT user_id FROM gone) AND NOT (k.connection_id = ANY (p_connection_ids)) AND ${live('k')}
    ),
    went_offline AS (
      INSERT INTO user_presence (user_id, last_seen_at)
      SELECT DISTINCT g.user_id, now() FROM gone g WHERE g.user_id NOT IN (SELECT user_id FROM remaining)
      ON CONFLICT (user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
      RETURNING user_id, last_seen_at
    ),
    left_conversations AS (
      SELECT DISTINCT g.user_id, j.conversation_id
      FROM gone g CROSS JOIN LATERAL unnest(g.joined_conversation_ids) AS j (conversation_id)
      WHERE NOT EXISTS (
        SELECT 1 FROM remaining r WHERE r.user_id = g.user_id AND j.conversation_id = ANY (r.joined_conversation_ids))
    )
  SELECT
    (SELECT coalesce(json_agg(json_build_object(
        'userId', u.id, 'lastSeenAt', o.last_seen_at, 'audiences', ${presenceAudiences('u', 'p_connection_ids::text[]')})), '[]'::json)
      FROM went_offline o JOIN users u ON u.id = o.user_id WHERE u.presence_visible) AS offline,
    (SELECT coalesce(json_agg(json_build_object(
        'userId', l.user_id, 'conversationId', l.conversation_id, 'connectionIds', (
          SELECT coalesce(json_agg(k.connection_id ORDER BY k.connection_id), '[]'::json) FROM connections k
          WHERE k.user_id = CASE WHEN cv.member_id = l.user_id THEN cv.trainer_id ELSE cv.member_id END
            AND l.conversation_id = ANY (k.joined_conversation_ids) AND ${live('k')}
            AND NOT (k.connection_id = ANY (p_connection_ids))))), '[]'::json)
      FROM left_conversations l JOIN conversations cv ON cv.id = l.conversation_id) AS left;`

/** Per-user bucket parameters, shared by the limited actions. */
const BUCKET = 'p_burst float8, p_per_second float8'
const ACCESS_RESULT = 'verdict text, user_id uuid'
const LIMITED_RESULT = 'limited boolean, retry_after_ms int'

interface FunctionSpec {
  name: string
  parameters: string
  /** The argument types alone, for DROP FUNCTION. */
  types: string
  returns: string
  body: string
}

const FUNCTIONS: FunctionSpec[] = [
  {
    name: 'trainer_chat_connect',
    parameters: 'p_connection_id text, p_subject text, p_email text, p_display_name text, p_role text, p_expires_at timestamptz, p_max_connections int, p_max_connection_seconds int, p_stale_probe_count int',
    types: 'text, text, text, text, text, timestamptz, int, int, int',
    returns: 'user_id uuid, disabled boolean, registered boolean, had_room boolean, online json, oldest text[]',
    body: CONNECT,
  },
  {
    name: 'trainer_chat_forget_connections',
    parameters: 'p_connection_ids text[], p_established_only boolean, p_connect_grace_seconds int, p_max_connection_seconds int',
    types: 'text[], boolean, int, int',
    returns: 'offline json, "left" json',
    body: FORGET_CONNECTIONS,
  },
  {
    name: 'trainer_chat_typing',
    parameters: `p_connection_id text, p_conversation_id uuid, ${BUCKET}`,
    types: 'text, uuid, float8, float8',
    returns: `${ACCESS_RESULT}, listeners json, ${LIMITED_RESULT}`,
    body: TYPING,
  },
  {
    name: 'trainer_chat_mark_as_read',
    parameters: `p_connection_id text, p_conversation_id uuid, p_message_id uuid, ${BUCKET}`,
    types: 'text, uuid, uuid, float8, float8',
    returns: `${ACCESS_RESULT}, listeners json, message_found boolean, marked_count int, read_at timestamptz, ${LIMITED_RESULT}`,
    body: MARK_AS_READ,
  },
  {
    name: 'trainer_chat_join_conversation',
    // p_after_seq NULL: the newest page. The byte budget and the URL reserve are core/history-page.ts's.
    parameters: `p_connection_id text, p_conversation_id uuid, p_limit int, p_after_seq int, ${BUCKET}, p_budget_bytes int, p_url_reserve_bytes int, p_url_bytes_per_name_byte int`,
    types: 'text, uuid, int, int, float8, float8, int, int, int',
    returns: `${ACCESS_RESULT}, listeners json, messages json, fetched bigint, joined bigint, ${LIMITED_RESULT}`,
    body: JOIN_CONVERSATION,
  },
  {
    name: 'trainer_chat_leave_conversation',
    parameters: `p_connection_id text, p_conversation_id uuid, ${BUCKET}`,
    types: 'text, uuid, float8, float8',
    returns: `${ACCESS_RESULT}, listeners json, left_count bigint, ${LIMITED_RESULT}`,
    body: LEAVE_CONVERSATION,
  },
  {
    name: 'trainer_chat_edit_message',
    parameters: 'p_connection_id text, p_conversation_id uuid, p_message_id uuid, p_body text, p_edit_window_seconds int',
    types: 'text, uuid, uuid, text, int',
    returns: `${ACCESS_RESULT}, message_verdict text, message json, listeners json, archived bigint`,
    body: EDIT_MESSAGE,
  },
  {
    name: 'trainer_chat_delete_message',
    parameters: 'p_connection_id text, p_conversation_id uuid, p_message_id uuid',
    types: 'text, uuid, uuid',
    returns: `${ACCESS_RESULT}, message_verdict text, deleted boolean, listeners json`,
    body: DELETE_MESSAGE,
  },
  {
    name: 'trainer_chat_react',
    parameters: 'p_connection_id text, p_conversation_id uuid, p_message_id uuid, p_emoji text, p_on boolean',
    types: 'text, uuid, uuid, text, boolean',
    returns: `${ACCESS_RESULT}, message_verdict text, changed boolean, reactions jsonb, listeners json`,
    body: REACT,
  },
]

function createFunction(spec: FunctionSpec): string {
  return `CREATE FUNCTION ${spec.name}(${spec.parameters})
  RETURNS TABLE (${spec.returns})
  LANGUAGE plpgsql
  SET plan_cache_mode = force_generic_plan
  AS $function$
#variable_conflict use_column
BEGIN${spec.body}
END
$function$`
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  for (const spec of FUNCTIONS) await sql.raw(createFunction(spec)).execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const spec of FUNCTIONS) await sql.raw(`DROP FUNCTION ${spec.name}(${spec.types})`).execute(db)
}
