import { sql, type RawBuilder } from 'kysely'
import type { Listener, StoredMessage } from '../core/model.ts'

/**
 * SQL pieces shared by the repositories, so that the participant rule and the message shape
 * are written once. Each piece is a Kysely `sql` fragment (parameters stay parameters).
 */

/**
 * CTEs `caller`, `target` and `access` for a WebSocket connection acting on a conversation.
 * `access.verdict` is the participant rule: a member may use only the conversation with their
 * assigned trainer; a trainer only conversations with members assigned to them; admins are
 * never participants (they read through the admin API). An expired or disabled caller is
 * `unauthorized`.
 */
export function connectionAccess(connectionId: string, conversationId: string): RawBuilder<unknown> {
  return sql`
    caller AS (
      SELECT u.id AS user_id, u.role, u.disabled_at, k.expires_at
      FROM connections k JOIN users u ON u.id = k.user_id
      WHERE k.connection_id = ${connectionId}
    ),
    ${participantAccess(conversationId)}`
}

/**
 * CTEs `target` and `access` given a `caller (user_id, role, disabled_at, expires_at)` CTE. The
 * conversation is an id, or an expression such as the conversation of a message (a scalar subquery).
 */
export function participantAccess(conversationId: string | RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    target AS (
      SELECT cv.id, cv.member_id, cv.trainer_id, cv.status, m.trainer_id AS assigned_trainer_id
      FROM conversations cv JOIN users m ON m.id = cv.member_id
      WHERE cv.id = ${conversationId}
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
    )`
}

/**
 * A message row (aliased `alias`) as the JSON object clients see; a hidden message's body and
 * attachment are withheld. The attachment is looked up by primary key; its download URL is
 * signed later, per reader (core/attachments.ts).
 */
export function messageJson(alias: string): RawBuilder<unknown> {
  const m = sql.ref(alias)
  return sql`json_build_object(
    'id', ${m}.id, 'conversationId', ${m}.conversation_id, 'seq', ${m}.seq, 'senderId', ${m}.sender_id,
    'body', CASE WHEN ${m}.hidden_at IS NULL THEN ${m}.body ELSE '' END,
    'clientMessageId', ${m}.client_message_id, 'createdAt', ${m}.created_at, 'readAt', ${m}.read_at,
    'removed', ${m}.hidden_at IS NOT NULL,
    'attachment', (
      SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
      FROM attachments att WHERE att.id = ${m}.attachment_id AND ${m}.hidden_at IS NULL
    ))`
}

/**
 * Live (token not expired) connections for a conversation as a JSON array, from `access`.
 * `who`: `both` participants, or only the `other` participant than the caller.
 * `joinedOnly`: only connections that joined the conversation.
 */
export function listenersJson(who: 'both' | 'other', joinedOnly: boolean): RawBuilder<unknown> {
  const users =
    who === 'both'
      ? sql`k.user_id IN (a.member_id, a.trainer_id)`
      : sql`k.user_id = CASE WHEN a.user_id = a.member_id THEN a.trainer_id ELSE a.member_id END`
  const joinedFilter = joinedOnly ? sql`AND a.conversation_id = ANY (k.joined_conversation_ids)` : sql``
  return sql`(
    SELECT coalesce(json_agg(json_build_object(
      'connectionId', k.connection_id, 'userId', k.user_id,
      'joined', a.conversation_id = ANY (k.joined_conversation_ids))), '[]'::json)
    FROM connections k
    WHERE ${users} AND k.expires_at > now() ${joinedFilter}
  )`
}

/** A message as `messageJson` builds it: the stored shape, with timestamps still in Postgres's JSON format. */
export type MessageJson = StoredMessage

/** Postgres renders timestamps in JSON with its own offset format; clients get ISO 8601 UTC. */
export function toMessage(json: MessageJson): StoredMessage {
  return {
    id: json.id,
    conversationId: json.conversationId,
    seq: json.seq,
    senderId: json.senderId,
    body: json.body,
    clientMessageId: json.clientMessageId,
    createdAt: toIso(json.createdAt),
    readAt: json.readAt === null ? null : toIso(json.readAt),
    removed: json.removed,
    attachment: json.attachment ?? null,
  }
}

export function toIso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

export function toListeners(json: unknown): Listener[] {
  return (json ?? []) as Listener[]
}

export interface SendRateLimit {
  /** Bucket size: how many messages may be sent at once after a quiet spell. */
  burst: number
  /** Sustained rate: tokens added per second. */
  perSecond: number
}

/**
 * CTEs `bucket` and `taken` (after `access` and `existing`): the sender's token bucket, kept in
 * their users row and refilled lazily from the time elapsed. `bucket` locks the row, so its
 * tokens are the committed value even when the same user's sends race in other Lambdas (READ
 * COMMITTED re-reads a row it had to wait for); `taken` spends one token if a whole one is there.
 * Only a send that would store a message reaches the bucket: retries of a stored clientMessageId
 * and refused senders cost nothing; `gate` is every other reason the send statement may refuse.
 *
 * `bucket.raced` is true when the locked row is newer than the statement's snapshot: another
 * send of this user committed meanwhile, and it may have stored this very clientMessageId,
 * which `existing` (read in the snapshot) cannot see.
 */
export function sendAllowance(limit: SendRateLimit, gate: RawBuilder<unknown> = sql`true`): RawBuilder<unknown> {
  const burst = sql`${limit.burst}::float8`
  return sql`
    bucket AS (
      SELECT u.id,
        -- A plain read sees the snapshot's row version; u (locked) is the latest committed one.
        u.send_tokens_at IS DISTINCT FROM (SELECT s.send_tokens_at FROM users s WHERE s.id = u.id) AS raced,
        least(${burst}, coalesce(u.send_tokens, ${burst})
        -- now() is the statement's start: a send that waited for this row may see a later
        -- send_tokens_at than its own now(), which must not count as negative time.
        + greatest(0, extract(epoch FROM now() - coalesce(u.send_tokens_at, now())))::float8 * ${limit.perSecond}::float8) AS tokens
      FROM users u JOIN access a ON u.id = a.user_id
      WHERE a.verdict = 'ok' AND NOT EXISTS (SELECT 1 FROM existing) AND ${gate}
      FOR NO KEY UPDATE OF u
    ),
    taken AS (
      UPDATE users u SET send_tokens = b.tokens - 1, send_tokens_at = now()
      FROM bucket b
      WHERE u.id = b.id AND b.tokens >= 1
      RETURNING u.id
    )`
}

/** The one row a statement built to return exactly one returned. */
export function single<T>(rows: T[]): T {
  const [row] = rows
  if (!row) throw new Error('expected exactly one row')
  return row
}

const UNIQUE_VIOLATION = '23505'

/** Whether Postgres refused a write for a unique constraint (this one, when named and reported). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown } | null
  return e?.code === UNIQUE_VIOLATION && (constraint === undefined || e.constraint === undefined || e.constraint === constraint)
}
