import { sql, type RawBuilder } from 'kysely'
import type { StoredMessage } from '../core/model.ts'

/**
 * SQL pieces shared by the REST repositories, so that the participant rule and the message shape
 * are written once in lambdas/. Each piece is a Kysely `sql` fragment (parameters stay
 * parameters). The WebSocket statements are plpgsql functions (chat-store.ts); their bodies, in
 * migrations 0015 and 0016, hold the same rules written out, and
 * test/unit/sql-statements.test.ts checks that they still read as these fragments do.
 */

/**
 * CTEs `target` and `access` given a `caller (user_id, role, disabled_at, expires_at)` CTE.
 * `access.verdict` is the participant rule: a member may use only the conversation with their
 * assigned trainer; a trainer only conversations with members assigned to them; admins are never
 * participants (they read through the admin API). An expired or disabled caller is `unauthorized`.
 * The conversation is an id, or an expression such as the conversation of a message (a scalar subquery).
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
 * A message row (aliased `alias`) as the JSON object clients see; a hidden (removed) or deleted
 * message's body, attachment and reactions are withheld. The attachment and the message replied
 * to are looked up by primary key; the download URL is signed later, per reader
 * (core/attachments.ts).
 */
export function messageJson(alias: string): RawBuilder<unknown> {
  const m = sql.ref(alias)
  const visible = sql`${m}.hidden_at IS NULL AND ${m}.deleted_at IS NULL`
  return sql`json_build_object(
    'id', ${m}.id, 'conversationId', ${m}.conversation_id, 'seq', ${m}.seq, 'senderId', ${m}.sender_id,
    'body', CASE WHEN ${visible} THEN ${m}.body ELSE '' END,
    'clientMessageId', ${m}.client_message_id, 'createdAt', ${m}.created_at, 'readAt', ${m}.read_at,
    'removed', ${m}.hidden_at IS NOT NULL,
    'attachment', (
      SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
      FROM attachments att WHERE att.id = ${m}.attachment_id AND ${visible}
    ),
    'editedAt', ${m}.edited_at, 'deletedAt', ${m}.deleted_at,
    'replyTo', ${replyToJson(alias, 'participant')},
    'reactions', CASE WHEN ${visible} THEN ${m}.reactions ELSE '[]'::jsonb END)`
}

/**
 * The message a row (aliased `alias`) answers, as `{id, senderId, preview}`, or NULL. Participants
 * get an empty preview of a deleted or removed message; moderators (`admin`) the original's.
 */
export function replyToJson(alias: string, audience: 'participant' | 'admin'): RawBuilder<unknown> {
  const m = sql.ref(alias)
  const preview = audience === 'admin'
    ? previewOf(sql`r.body`)
    : sql`CASE WHEN r.hidden_at IS NULL AND r.deleted_at IS NULL THEN ${previewOf(sql`r.body`)} ELSE '' END`
  return sql`(
      SELECT json_build_object('id', r.id, 'senderId', r.sender_id, 'preview', ${preview})
      FROM messages r WHERE r.id = ${m}.reply_to_id
    )`
}

/**
 * At most PREVIEW_CHARS characters of a body, as core/send-message.ts `preview` cuts it (99 and
 * an ellipsis when longer). char_length counts code points, as the use case does.
 */
function previewOf(body: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`CASE WHEN char_length(${body}) <= 100 THEN ${body} ELSE left(${body}, 99) || '…' END`
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
    editedAt: isoOrNull(json.editedAt),
    deletedAt: isoOrNull(json.deletedAt),
    replyTo: json.replyTo ?? null,
    reactions: json.reactions ?? [],
  }
}

function isoOrNull(value: string | Date | null | undefined): string | null {
  return value === null || value === undefined ? null : toIso(value)
}

export function toIso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

/** The one row a statement built to return exactly one returned. */
export function single<T>(rows: T[]): T {
  const [row] = rows
  if (!row) throw new Error('expected exactly one row')
  return row
}

/** Splits a keyset page fetched with one extra row (`LIMIT limit + 1`) into its items and the key to continue after. */
export function paginate<R, T, K>(rows: R[], limit: number, map: (row: R) => T, keyOf: (row: R) => K): { items: T[]; nextKey: K | null } {
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return { items: page.map(map), nextKey: rows.length > limit && last !== undefined ? keyOf(last) : null }
}

const UNIQUE_VIOLATION = '23505'

/** Whether Postgres refused a write for a unique constraint (this one, when named and reported). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: unknown; constraint?: unknown } | null
  return e?.code === UNIQUE_VIOLATION && (constraint === undefined || e.constraint === undefined || e.constraint === constraint)
}

// ---- Presence (#13, #11 item 2) ----

/**
 * API Gateway closes every connection after 2 hours, so a row older than that is certainly
 * gone, whatever `$disconnect` did (it is best effort, and a crash of the local stack loses it).
 */
export const MAX_CONNECTION_SECONDS = 7200

/** Whether connection row `alias` can still be live: its token has not expired and it is younger than API Gateway's maximum. */
export function liveConnection(alias: string): RawBuilder<unknown> {
  const k = sql.ref(alias)
  return sql`(${k}.expires_at > now() AND ${k}.connected_at > now() - ${MAX_CONNECTION_SECONDS}::int * interval '1 second')`
}

/**
 * Scalar JSON array `[{conversationId, connectionIds}]`: for each conversation user `alias`
 * (a row with id, role, trainer_id) may use (the rule of GET /conversations), the other
 * participant's live connections, leaving out `excluded` (rows the statement is deleting).
 * Conversations where the other participant has no live connection are left out.
 */
export function presenceAudiences(alias: string, excluded: readonly string[] = []): RawBuilder<unknown> {
  const u = sql.ref(alias)
  return sql`(
    SELECT coalesce(json_agg(json_build_object('conversationId', cv.id, 'connectionIds', other.ids)), '[]'::json)
    FROM conversations cv
    CROSS JOIN LATERAL (
      SELECT array_agg(k.connection_id ORDER BY k.connection_id) AS ids FROM connections k
      WHERE k.user_id = CASE WHEN cv.member_id = ${u}.id THEN cv.trainer_id ELSE cv.member_id END
        AND ${liveConnection('k')} AND NOT (k.connection_id = ANY (${[...excluded]}::text[]))
    ) other
    WHERE other.ids IS NOT NULL AND (
      (${u}.role = 'user' AND cv.member_id = ${u}.id AND cv.trainer_id = ${u}.trainer_id)
      OR (${u}.role = 'trainer' AND cv.trainer_id = ${u}.id
          AND EXISTS (SELECT 1 FROM users member WHERE member.id = cv.member_id AND member.trainer_id = ${u}.id))
    )
  )`
}
