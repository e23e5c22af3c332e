import { sql, type Kysely, type RawBuilder } from 'kysely'
import type {
  Access,
  AttachmentVerdict,
  PushTarget,
  ChatStore,
  ConnectCommand,
  ConnectResult,
  ConversationAudience,
  ConversationCommand,
  DeleteMessageResult,
  EditMessageCommand,
  EditMessageResult,
  Departures,
  ForgetOptions,
  JoinResult,
  LimitedListenersResult,
  MarkAsReadResult,
  MessageCommand,
  MessageVerdict,
  ReactCommand,
  ReactResult,
  SendMessageCommand,
  SendMessageResult,
  Verdict,
} from '../core/ports.ts'
import { HISTORY_STATEMENT_BUDGET_BYTES } from '../core/history-page.ts'
import type { Reaction } from '../core/model.ts'
import type { Database } from './database-schema.ts'
import { isEmailTaken, knownUser } from './users-upsert.ts'
import {
  allowanceRetryMs,
  connectionAccess,
  historyPageBytes,
  isUniqueViolation,
  listenersJson,
  liveConnection,
  presenceAudiences,
  messageJson,
  single,
  toIso,
  toListeners,
  toMessage,
  userAllowance,
  type MessageJson,
  type SendRateLimit,
  type UserLimit,
} from './sql-fragments.ts'

/** A per-user limit's sizes (its kind is fixed by the action). */
export type UserLimitRate = Omit<UserLimit, 'kind'>

export interface ChatStoreOptions {
  /** The per-user send token bucket (config RATE_LIMIT_BURST / RATE_LIMIT_PER_SECOND). */
  sendRateLimit?: SendRateLimit
  /** How long after its upload was requested an attachment may be sent (config ATTACHMENT_USE_WITHIN_SECONDS). */
  attachmentUseWithinSeconds?: number
  /** Per-user buckets (#11 item 13): typing (config TYPING_*), join and leave (JOIN_*), markAsRead (MARK_AS_READ_*). */
  typingLimit?: UserLimitRate
  joinLimit?: UserLimitRate
  readLimit?: UserLimitRate
}

const DEFAULT_SEND_RATE_LIMIT: SendRateLimit = { burst: 20, perSecond: 1 }
const DEFAULT_TYPING_LIMIT: UserLimitRate = { burst: 5, perSecond: 2 }
const DEFAULT_JOIN_LIMIT: UserLimitRate = { burst: 60, perSecond: 2 }
const DEFAULT_READ_LIMIT: UserLimitRate = { burst: 60, perSecond: 5 }
const DEFAULT_ATTACHMENT_USE_WITHIN_SECONDS = 24 * 60 * 60

/**
 * The chat use cases' store on Postgres. Every method is exactly one statement (one round
 * trip): CTEs authorize the caller, act, and return who must hear about it.
 */
export function createChatStore(db: Kysely<Database>, options: ChatStoreOptions = {}): ChatStore {
  const sendRateLimit = options.sendRateLimit ?? DEFAULT_SEND_RATE_LIMIT
  const attachmentUseWithinSeconds = options.attachmentUseWithinSeconds ?? DEFAULT_ATTACHMENT_USE_WITHIN_SECONDS
  const typingLimit: UserLimit = { kind: 'typing', ...(options.typingLimit ?? DEFAULT_TYPING_LIMIT) }
  const joinLimit: UserLimit = { kind: 'join', ...(options.joinLimit ?? DEFAULT_JOIN_LIMIT) }
  const readLimit: UserLimit = { kind: 'read', ...(options.readLimit ?? DEFAULT_READ_LIMIT) }
  return {
    connect: (command) => connect(db, command),

    disconnect: (connectionId) => forgetConnections(db, [connectionId]),

    sendMessage: (command) => sendMessage(db, command, sendRateLimit, attachmentUseWithinSeconds),

    async typing({ connectionId, conversationId }) {
      // Per-user limit (#11 item 13): without a token, no listeners are returned, so nothing is relayed.
      const { rows } = await sql<AccessRow & LimitedRow & { listeners: unknown }>`
        WITH ${connectionAccess(connectionId, conversationId)},
        ${userAllowance(typingLimit, ['ok'])}
        SELECT a.verdict, a.user_id,
          CASE WHEN EXISTS (SELECT 1 FROM allowance) THEN ${listenersJson('other', true)} ELSE '[]'::json END AS listeners,
          ${limitedColumns(typingLimit)}
        FROM access a`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), ...limitedOf(row) })) satisfies LimitedListenersResult
    },

    async markAsRead({ connectionId, conversationId, messageId }) {
      // Per-user limit (#11 item 13): `allowance` gates the update; refused, nothing is marked.
      const { rows } = await sql<
        AccessRow & LimitedRow & { listeners: unknown; message_found: boolean; marked_count: number; read_at: Date | string }
      >`
        WITH ${connectionAccess(connectionId, conversationId)},
        ${userAllowance(readLimit, ['ok', 'closed'])},
        target_message AS (
          SELECT m.seq FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
          WHERE m.id = ${messageId} AND a.verdict IN ('ok', 'closed')
        ),
        marked AS (
          UPDATE messages m SET read_at = now()
          FROM access a, target_message t
          WHERE m.conversation_id = ${conversationId} AND m.sender_id <> a.user_id
            AND m.seq <= t.seq AND m.read_at IS NULL
            AND EXISTS (SELECT 1 FROM allowance)
          RETURNING m.id
        )
        SELECT a.verdict, a.user_id, ${listenersJson('both', true)} AS listeners,
          EXISTS (SELECT 1 FROM target_message) AS message_found,
          (SELECT count(*) FROM marked)::int AS marked_count,
          now() AS read_at,
          ${limitedColumns(readLimit)}
        FROM access a`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({
        listeners: toListeners(row.listeners),
        messageFound: row.message_found,
        markedCount: Number(row.marked_count),
        readAt: toIso(row.read_at),
        ...limitedOf(row),
      })) satisfies MarkAsReadResult
    },

    async joinConversation({ connectionId, conversationId, limit, afterSeq }) {
      // Fetch one extra row to learn whether there is more without a count.
      const latest = afterSeq === undefined
      const page = latest
        ? sql`ORDER BY m.seq DESC LIMIT ${limit + 1}`
        : sql`AND m.seq > ${afterSeq} ORDER BY m.seq ASC LIMIT ${limit + 1}`
      // Per-user limit (#11 item 13), shared with leaveConversation: `allowance` gates the join and
      // the history query, so a refused join neither subscribes, nor reads, nor tells anyone.
      const { rows } = await sql<AccessRow & LimitedRow & { listeners: unknown; messages: MessageJson[]; fetched: number | string }>`
        WITH ${connectionAccess(connectionId, conversationId)},
        ${userAllowance(joinLimit, ['ok', 'closed'])},
        joined AS (
          UPDATE connections k
          SET joined_conversation_ids = array_append(array_remove(k.joined_conversation_ids, a.conversation_id), a.conversation_id)
          FROM access a, allowance
          WHERE k.connection_id = ${connectionId} AND a.verdict IN ('ok', 'closed')
          RETURNING 1
        ),
        page AS (
          -- Filter on the parameter, not a join with access: only then does the planner walk the
          -- (conversation_id, seq) index and stop after limit+1 rows instead of sorting them all.
          SELECT m.* FROM messages m
          WHERE m.conversation_id = ${conversationId}
            AND EXISTS (SELECT 1 FROM access a WHERE a.verdict IN ('ok', 'closed'))
            AND EXISTS (SELECT 1 FROM allowance) ${page}
        ),
        ${historyPageBytes(latest ? 'newest' : 'oldest')}
        SELECT a.verdict, a.user_id,
          CASE WHEN EXISTS (SELECT 1 FROM allowance) THEN ${listenersJson('other', true)} ELSE '[]'::json END AS listeners,
          (SELECT coalesce(json_agg(w.message ORDER BY w.seq), '[]'::json) FROM walked w
            WHERE w.n <= ${limit} AND (w.n = 1 OR w.bytes <= ${sql.lit(HISTORY_STATEMENT_BUDGET_BYTES)})) AS messages,
          (SELECT count(*) FROM page) AS fetched,
          (SELECT count(*) FROM joined) AS joined,
          ${limitedColumns(joinLimit)}
        FROM access a`.execute(db)
      const row = single(rows)
      const messages = row.messages.map(toMessage)
      // More when the extra row came back, or when the byte budget ended the page early.
      const hasMore = Number(row.fetched ?? 0) > messages.length
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), messages, hasMore, ...limitedOf(row) })) satisfies JoinResult
    },

    async leaveConversation({ connectionId, conversationId }: ConversationCommand) {
      // Per-user limit shared with joinConversation (#11 item 13): refused, the connection stays joined.
      const { rows } = await sql<AccessRow & LimitedRow & { listeners: unknown }>`
        WITH ${connectionAccess(connectionId, conversationId)},
        ${userAllowance(joinLimit, ['ok', 'closed'])},
        left_conversation AS (
          UPDATE connections k SET joined_conversation_ids = array_remove(k.joined_conversation_ids, a.conversation_id)
          FROM access a, allowance
          WHERE k.connection_id = ${connectionId} AND a.verdict IN ('ok', 'closed')
          RETURNING 1
        )
        SELECT a.verdict, a.user_id,
          CASE WHEN EXISTS (SELECT 1 FROM allowance) THEN ${listenersJson('other', true)} ELSE '[]'::json END AS listeners,
          (SELECT count(*) FROM left_conversation) AS left_count,
          ${limitedColumns(joinLimit)}
        FROM access a`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), ...limitedOf(row) })) satisfies LimitedListenersResult
    },

    editMessage: (command) => editMessage(db, command),
    deleteMessage: (command) => deleteMessage(db, command),
    react: (command) => react(db, command),

    forgetConnections: (connectionIds, options) => forgetConnections(db, connectionIds, options),
  }
}

interface LimitedRow {
  limited: boolean
  retry_after_ms: number | null
}

/** Columns `limited` and `retry_after_ms`: the caller was a participant, but the bucket had no whole token. */
function limitedColumns(limit: UserLimit): RawBuilder<unknown> {
  return sql`a.verdict IN ('ok', 'closed') AND NOT EXISTS (SELECT 1 FROM allowance) AS limited,
          ${allowanceRetryMs(limit)} AS retry_after_ms`
}

function limitedOf(row: LimitedRow): { retryAfterMs?: number } {
  return row.limited ? { retryAfterMs: Math.max(1, Number(row.retry_after_ms ?? 1)) } : {}
}

/**
 * One statement: delete connection rows ($disconnect, or API Gateway reported them gone) and
 * report what that means for the other participants:
 * - a user left without any live connection gets a `user_presence.last_seen_at` and, if they share presence, is
 *   reported `offline` with the other participant's live connections of each conversation;
 * - a conversation the user no longer has a joined connection in is reported `left`, with the
 *   other participant's joined connections (userLeft).
 * The statement's snapshot still holds the rows it deletes, so every read leaves them out. Two
 * last connections of one user deleted at the same instant by two statements each see the other
 * still there, and neither reports the user offline: GET /conversations, which reads the rows,
 * still shows the truth, and the next connection or disconnect of that user corrects the frames.
 */
/** Longer than any $connect can run (API Gateway's integration timeout is 29 s). */
const CONNECT_GRACE_SECONDS = 30

export async function forgetConnections(
  db: Kysely<Database>,
  connectionIds: readonly string[],
  options: ForgetOptions = {},
): Promise<Departures> {
  if (connectionIds.length === 0) return { offline: [], left: [] }
  const ids = [...connectionIds]
  // API Gateway answers 410 for a connection still inside its own $connect, whose row the connect
  // statement has already written. A fan-out's 410 therefore only proves a connection gone once it
  // is past $connect: it has joined a conversation, or it is older than any $connect can take.
  // Younger rows stay; the next 410 or their $disconnect removes them.
  const established = options.establishedOnly
    ? sql`AND (cardinality(joined_conversation_ids) > 0 OR connected_at < now() - ${CONNECT_GRACE_SECONDS}::int * interval '1 second')`
    : sql``
  const { rows } = await sql<{ offline: Departures['offline']; left: Departures['left'] }>`
    WITH gone AS (
      DELETE FROM connections WHERE connection_id = ANY (${ids}::text[]) ${established}
      RETURNING user_id, joined_conversation_ids
    ),
    remaining AS (
      SELECT k.user_id, k.joined_conversation_ids FROM connections k
      WHERE k.user_id IN (SELECT user_id FROM gone) AND NOT (k.connection_id = ANY (${ids}::text[])) AND ${liveConnection('k')}
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
          'userId', u.id, 'lastSeenAt', o.last_seen_at, 'audiences', ${presenceAudiences('u', ids)})), '[]'::json)
        FROM went_offline o JOIN users u ON u.id = o.user_id WHERE u.presence_visible) AS offline,
      (SELECT coalesce(json_agg(json_build_object(
          'userId', l.user_id, 'conversationId', l.conversation_id, 'connectionIds', (
            SELECT coalesce(json_agg(k.connection_id ORDER BY k.connection_id), '[]'::json) FROM connections k
            WHERE k.user_id = CASE WHEN cv.member_id = l.user_id THEN cv.trainer_id ELSE cv.member_id END
              AND l.conversation_id = ANY (k.joined_conversation_ids) AND ${liveConnection('k')}
              AND NOT (k.connection_id = ANY (${ids}::text[]))))), '[]'::json)
        FROM left_conversations l JOIN conversations cv ON cv.id = l.conversation_id) AS left`.execute(db)
  const row = single(rows)
  return {
    offline: row.offline.map((o) => ({ ...o, lastSeenAt: toIso(o.lastSeenAt), audiences: toAudiences(o.audiences) })),
    left: row.left.filter((l) => l.connectionIds.length > 0),
  }
}

function toAudiences(json: unknown): ConversationAudience[] {
  return ((json ?? []) as ConversationAudience[]).filter((audience) => audience.connectionIds.length > 0)
}

interface AccessRow {
  verdict: Verdict
  user_id: string | null
}

/** A statement's report: the refusal alone, or the participant's user id with what `allowed` reads from the row. */
function allowedOf<T>(row: AccessRow, allowed: () => T): Access<T> {
  if (row.verdict !== 'ok' && row.verdict !== 'closed') return { verdict: row.verdict }
  if (row.user_id === null) throw new Error(`verdict ${row.verdict} without a caller`)
  return { verdict: row.verdict, userId: row.user_id, ...allowed() }
}

// ---- The message actions: editMessage, deleteMessage, react ----

interface MessageActionRow extends AccessRow {
  message_verdict: MessageVerdict
  listeners: unknown
}

/**
 * CTEs `found` (the message, if it is in the conversation and the caller a participant) and
 * `message_check (verdict)`: how the message stands towards the caller. Read in the statement's
 * snapshot; the action's own UPDATE re-checks what may have changed since on the latest row.
 */
function messageCheck(messageId: string, rules: { sender: boolean; visible: boolean; editWindowSeconds?: number }): RawBuilder<unknown> {
  const window = rules.editWindowSeconds === undefined
    ? sql``
    : sql`WHEN f.created_at < now() - ${rules.editWindowSeconds}::int * interval '1 second' THEN 'window_passed'`
  return sql`
    found AS (
      SELECT m.id, m.sender_id, m.created_at, m.hidden_at, m.deleted_at, m.reactions
      FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
      WHERE m.id = ${messageId} AND a.verdict IN ('ok', 'closed')
    ),
    message_check AS (
      SELECT CASE
        WHEN f.id IS NULL THEN 'not_found'
        ${rules.sender ? sql`WHEN f.sender_id <> a.user_id THEN 'not_sender'` : sql``}
        ${rules.visible ? sql`WHEN f.deleted_at IS NOT NULL OR f.hidden_at IS NOT NULL THEN 'gone'` : sql``}
        ${window}
        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN found f ON true
    )`
}

/**
 * One statement: authorize; check the message is the caller's, visible and inside the edit
 * window; lock it and archive the body it has (message_edits); write the new body; return the
 * message and the joined connections of both participants.
 *
 * `locked` takes the row lock with SELECT … FOR UPDATE, which (READ COMMITTED) waits for a racing
 * edit or delete and then reads the row's latest committed version, re-checking that it is still
 * undeleted and unhidden: the body archived is the one being replaced, so two racing edits lose no
 * version. A conversation closed while this runs does not stop it: the edit read `open` in a
 * snapshot taken before the close committed, so it is ordered before the close.
 */
async function editMessage(db: Kysely<Database>, command: EditMessageCommand): Promise<EditMessageResult> {
  const { connectionId, conversationId, messageId, body, editWindowSeconds } = command
  const { rows } = await sql<MessageActionRow & { message: MessageJson | null }>`
    WITH ${connectionAccess(connectionId, conversationId)},
    ${messageCheck(messageId, { sender: true, visible: true, editWindowSeconds })},
    locked AS (
      SELECT m.id, m.body FROM messages m, access a, message_check c
      WHERE m.id = ${messageId} AND m.conversation_id = a.conversation_id AND m.sender_id = a.user_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
      FOR UPDATE OF m
    ),
    updated AS (
      UPDATE messages m SET body = ${body}, edited_at = now()
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
      ${listenersJson('both', true)} AS listeners,
      (SELECT count(*) FROM archived) AS archived
    FROM access a`.execute(db)
  const row = single(rows)
  return allowedOf(row, () => ({
    messageVerdict: row.message_verdict,
    message: row.message ? toMessage(row.message) : null,
    listeners: toListeners(row.listeners),
  }))
}

/**
 * One statement: authorize; check the message is the caller's; set deleted_at (the row and its
 * seq stay; body, attachment and reactions are withheld from participants by messageJson, kept
 * for admins); return the joined connections of both participants. Deleting a deleted message
 * changes nothing (`deleted` false), so a retried delete is harmless.
 */
async function deleteMessage(db: Kysely<Database>, command: MessageCommand): Promise<DeleteMessageResult> {
  const { connectionId, conversationId, messageId } = command
  const { rows } = await sql<MessageActionRow & { deleted: boolean }>`
    WITH ${connectionAccess(connectionId, conversationId)},
    ${messageCheck(messageId, { sender: true, visible: false })},
    deleted AS (
      UPDATE messages m SET deleted_at = now()
      FROM access a, message_check c
      WHERE m.id = ${messageId} AND m.conversation_id = a.conversation_id AND m.sender_id = a.user_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL
      RETURNING m.id
    )
    SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
      EXISTS (SELECT 1 FROM deleted) AS deleted,
      ${listenersJson('both', true)} AS listeners
    FROM access a`.execute(db)
  const row = single(rows)
  return allowedOf(row, () => ({
    messageVerdict: row.message_verdict,
    deleted: row.deleted,
    listeners: toListeners(row.listeners),
  }))
}

/**
 * One statement: authorize; check the message is visible; add or take back the caller's reaction
 * in messages.reactions ([{emoji, userIds}]) only when that changes it; return the reactions and
 * the joined connections of both participants.
 *
 * The new list is computed by the UPDATE from the row it locks: when two reactions race, the
 * second waits for the first's lock and READ COMMITTED re-evaluates its SET and WHERE on the row
 * the first wrote, so neither is lost, nobody holds one emoji twice, and the list each returns is
 * the row as it committed.
 */
async function react(db: Kysely<Database>, command: ReactCommand): Promise<ReactResult> {
  const { connectionId, conversationId, messageId } = command
  const emoji = sql`${command.emoji}::text`
  const on = sql`${command.on}::boolean`
  const me = sql`to_jsonb(a.user_id::text)`
  const { rows } = await sql<MessageActionRow & { changed: boolean; reactions: Reaction[] | null }>`
    WITH ${connectionAccess(connectionId, conversationId)},
    ${messageCheck(messageId, { sender: false, visible: true })},
    reacted AS (
      UPDATE messages m SET reactions = CASE
        WHEN NOT ${on} THEN (
          SELECT coalesce(jsonb_agg(x.e ORDER BY x.ord), '[]'::jsonb) FROM (
            SELECT y.ord, CASE WHEN y.e->>'emoji' = ${emoji} THEN jsonb_set(y.e, '{userIds}', (y.e->'userIds') - a.user_id::text) ELSE y.e END AS e
            FROM jsonb_array_elements(m.reactions) WITH ORDINALITY y(e, ord)
          ) x
          WHERE jsonb_array_length(x.e->'userIds') > 0)
        WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(m.reactions) e WHERE e->>'emoji' = ${emoji}) THEN (
          SELECT jsonb_agg(CASE WHEN y.e->>'emoji' = ${emoji} THEN jsonb_set(y.e, '{userIds}', (y.e->'userIds') || jsonb_build_array(${me})) ELSE y.e END ORDER BY y.ord)
          FROM jsonb_array_elements(m.reactions) WITH ORDINALITY y(e, ord))
        ELSE m.reactions || jsonb_build_array(jsonb_build_object('emoji', ${emoji}, 'userIds', jsonb_build_array(${me})))
      END
      FROM access a, message_check c
      WHERE m.id = ${messageId} AND m.conversation_id = a.conversation_id
        AND a.verdict = 'ok' AND c.verdict = 'ok' AND m.deleted_at IS NULL AND m.hidden_at IS NULL
        -- Only a change: the caller's reaction stands otherwise than asked.
        AND EXISTS (
          SELECT 1 FROM jsonb_array_elements(m.reactions) e WHERE e->>'emoji' = ${emoji} AND e->'userIds' @> jsonb_build_array(${me})
        ) <> ${on}
      RETURNING m.reactions
    )
    SELECT a.verdict, a.user_id, (SELECT verdict FROM message_check) AS message_verdict,
      EXISTS (SELECT 1 FROM reacted) AS changed,
      coalesce((SELECT r.reactions FROM reacted r), (SELECT f.reactions FROM found f)) AS reactions,
      ${listenersJson('both', true)} AS listeners
    FROM access a`.execute(db)
  const row = single(rows)
  return allowedOf(row, () => ({
    messageVerdict: row.message_verdict,
    changed: row.changed,
    reactions: row.reactions ?? [],
    listeners: toListeners(row.listeners),
  }))
}

const MAX_SEND_ATTEMPTS = 3

/**
 * One statement, the function trainer_chat_send_message (migration 0014): authorize; find an
 * earlier message with the same clientMessageId (a retry); otherwise check the attachment and the
 * message replied to, spend a token of the sender's rate-limit bucket, bump the conversation's
 * last_seq (the row lock serializes concurrent senders, so seq is gap-free) and insert; return the
 * message, every live connection of both participants and the push target.
 *
 * Two copies of one clientMessageId racing both miss `existing` in their snapshots; the loser's
 * insert violates the unique (sender, client_message_id) constraint and its whole statement,
 * seq bump included, rolls back. Running it again finds the winner's row: a second round trip,
 * only on that race.
 */
async function sendMessage(
  db: Kysely<Database>,
  command: SendMessageCommand,
  limit: SendRateLimit,
  attachmentUseWithinSeconds: number,
): Promise<SendMessageResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { bucketRaced, result } = await sendMessageOnce(db, command, limit, attachmentUseWithinSeconds)
      // Rate-limited after a concurrent send of this user spent the bucket: that send may have
      // stored this very clientMessageId (our snapshot cannot see it), and a retry must be answered
      // with the stored message, not rate_limited. Running again sees it; a second round trip only then.
      if (bucketRaced && attempt < MAX_SEND_ATTEMPTS) continue
      return result
    } catch (error) {
      // A racing send that claimed the same attachment: run again, the check then answers `used`.
      const raced = isUniqueViolation(error, 'messages_client_id_unique') || isUniqueViolation(error, 'messages_attachment_unique')
      if (attempt >= MAX_SEND_ATTEMPTS || !raced) throw error
    }
  }
}

async function sendMessageOnce(
  db: Kysely<Database>,
  command: SendMessageCommand,
  limit: SendRateLimit,
  attachmentUseWithinSeconds: number,
): Promise<{ result: SendMessageResult; bucketRaced: boolean }> {
  const { connectionId, conversationId, clientMessageId, body } = command
  const object = command.attachment?.object
  // The statement is the function trainer_chat_send_message (its body, the whole send statement,
  // is in migrations/0014_hot_statement_functions.ts). Sent as ad-hoc SQL it was planned on every
  // call (7 ms of planning around 2 ms of work); a prepared statement would keep the plan but
  // holds session state, which pins the Lambda to one backend behind RDS Proxy. A plpgsql
  // function's plan is cached by the backend for every client, so this stays one plain
  // statement, one round trip, and RDS Proxy keeps multiplexing.
  const { rows } = await sql<
    AccessRow & { listeners: unknown; message: MessageJson | null; duplicate: boolean | null }
      & { rate_limited: boolean; send_tokens: number | null; bucket_raced: boolean | null }
      & { attachment_verdict: AttachmentVerdict; push: unknown; reply_found: boolean }
  >`
    -- The body: migrations/0014_hot_statement_functions.ts
    SELECT * FROM trainer_chat_send_message(${connectionId}::text, ${conversationId}::uuid, ${clientMessageId}::text, ${body}::text,
      ${command.attachment?.id ?? null}::uuid, ${object?.contentType ?? null}::text, ${object?.size ?? null}::int, ${attachmentUseWithinSeconds}::int,
      ${command.replyToId ?? null}::uuid,
      ${limit.burst}::float8, ${limit.perSecond}::float8)`.execute(db)
  const row = single(rows)
  const result = allowedOf(row, () => ({
    listeners: toListeners(row.listeners),
    message: row.message ? toMessage(row.message) : null,
    duplicate: row.duplicate === true,
    attachmentVerdict: row.attachment_verdict,
    replyFound: row.reply_found !== false,
    push: toPushTarget(row.push),
    ...(row.rate_limited ? { retryAfterMs: retryAfterMs(Number(row.send_tokens ?? 0), limit) } : {}),
  }))
  return { result, bucketRaced: row.rate_limited && row.bucket_raced === true }
}

/** How long until the bucket holds one whole token again. */
function retryAfterMs(tokens: number, limit: SendRateLimit): number {
  return Math.max(1, Math.ceil(((1 - tokens) / limit.perSecond) * 1000))
}

/**
 * One statement: create the user on first contact (keeping email and display name current,
 * never the role: the database decides roles), then register the connection unless the user
 * is disabled or already has the maximum number of live connections.
 *
 * The limit is exact under concurrent $connects: each connection takes a slot number that no
 * live connection of the user holds (a slot left by an expired one is taken over), and the unique
 * (user_id, slot) index lets only one of two racing connects have it. The loser's insert does
 * nothing (its conflicting row is live); it runs again on a fresh snapshot, a second round trip
 * only on that race. Slots are picked at random so that racers rarely collide, and every round
 * seats at least one racer, so the attempts are bounded by the limit.
 *
 * Stale rows never lock a user out (#11 item 2): a row older than API Gateway's 2-hour maximum
 * is not live (liveConnection) and its slot is taken over; at the limit the statement returns the
 * user's oldest live connections, which the use case checks with GetConnection before refusing.
 * Presence (#13): when this is the user's first live connection and they share presence, it also
 * returns the other participants' live connections, to tell them the user is online.
 */
async function connect(db: Kysely<Database>, command: ConnectCommand): Promise<ConnectResult> {
  const { identity, connectionId, tokenExpiresAt, maxConnectionsPerUser, initialRole } = command
  for (let attempt = 1; ; attempt++) {
    type ConnectRow = { user_id: string; disabled: boolean; registered: boolean; had_room: boolean; online: unknown; oldest: string[] | null }
    let rows: ConnectRow[]
    try {
      ;({ rows } = await sql<ConnectRow>`
      -- The users upsert (users-upsert.ts, shared with REST): creates the user on first contact.
      WITH ${knownUser(identity, initialRole)},
      me AS (SELECT id, disabled_at, role, trainer_id, presence_visible FROM known_user),
      live AS (
        SELECT k.slot, k.connection_id, k.connected_at FROM connections k JOIN me ON k.user_id = me.id WHERE ${liveConnection('k')}
      ),
      free_slot AS (
        SELECT s AS slot FROM generate_series(1, ${maxConnectionsPerUser}::int) s
        WHERE (SELECT count(*) FROM live) < ${maxConnectionsPerUser}
          AND NOT EXISTS (SELECT 1 FROM live WHERE live.slot = s)
        ORDER BY random() LIMIT 1
      ),
      registered AS (
        INSERT INTO connections (connection_id, user_id, expires_at, slot)
        SELECT ${connectionId}, me.id, ${tokenExpiresAt.toISOString()}, f.slot FROM me, free_slot f
        WHERE me.disabled_at IS NULL AND f.slot IS NOT NULL
        ON CONFLICT (user_id, slot) DO UPDATE
          SET connection_id = excluded.connection_id, expires_at = excluded.expires_at,
            connected_at = now(), joined_conversation_ids = '{}'
          WHERE NOT ${liveConnection('connections')}
        RETURNING connection_id
      )
      SELECT me.id AS user_id, me.disabled_at IS NOT NULL AS disabled, EXISTS (SELECT 1 FROM registered) AS registered,
        EXISTS (SELECT 1 FROM free_slot) AS had_room,
        -- Presence: the user's first live connection (none in the snapshot), and they share it.
        CASE WHEN EXISTS (SELECT 1 FROM registered) AND NOT EXISTS (SELECT 1 FROM live) AND me.presence_visible
          THEN ${presenceAudiences('me')} ELSE '[]'::json END AS online,
        -- At the limit: the oldest live connections, the likeliest to be gone without a $disconnect.
        CASE WHEN me.disabled_at IS NULL AND NOT EXISTS (SELECT 1 FROM free_slot) THEN
          ARRAY(SELECT l.connection_id FROM live l ORDER BY l.connected_at, l.connection_id LIMIT ${STALE_PROBE_COUNT}) END AS oldest
      FROM me`.execute(db))
    } catch (error) {
      // A racing first contact took the same verified email: run again, keeping no email.
      if (isEmailTaken(error) && attempt < maxConnectionsPerUser + 2) continue
      throw error
    }
    const row = rows[0]
    // Empty when a concurrent first contact created the user after our snapshot; not registered
    // despite a free slot when a concurrent connect took that slot first: run again.
    const raced = !row || (!row.disabled && !row.registered && row.had_room)
    if (raced) {
      if (attempt >= maxConnectionsPerUser + 2) throw new Error('could not register the connection')
      continue
    }
    if (row.disabled) return { outcome: 'disabled', userId: row.user_id }
    if (!row.registered) return { outcome: 'too_many_connections', userId: row.user_id, oldest: row.oldest ?? [] }
    return { outcome: 'connected', userId: row.user_id, online: toAudiences(row.online) }
  }
}

/** How many of a user's oldest connections $connect checks with GetConnection when the user is at the limit. */
const STALE_PROBE_COUNT = 5

/** The send statement's push target (a JSON object, or NULL when nobody is to be pushed). */
function toPushTarget(json: unknown): PushTarget | null {
  if (json === null || json === undefined) return null
  const target = json as PushTarget
  return { ...target, unreadCount: Number(target.unreadCount) }
}
