import { sql, type RawBuilder } from 'kysely'
import type { Listener, Message } from '../core/model.ts'

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

/** CTEs `target` and `access` given a `caller (user_id, role, disabled_at, expires_at)` CTE. */
export function participantAccess(conversationId: string): RawBuilder<unknown> {
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

/** A message row (aliased `alias`) as the JSON object clients see; a hidden message's body is withheld. */
export function messageJson(alias: string): RawBuilder<unknown> {
  const m = sql.ref(alias)
  return sql`json_build_object(
    'id', ${m}.id, 'conversationId', ${m}.conversation_id, 'seq', ${m}.seq, 'senderId', ${m}.sender_id,
    'body', CASE WHEN ${m}.hidden_at IS NULL THEN ${m}.body ELSE '' END,
    'clientMessageId', ${m}.client_message_id, 'createdAt', ${m}.created_at, 'readAt', ${m}.read_at,
    'removed', ${m}.hidden_at IS NOT NULL)`
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

export interface MessageJson {
  id: string
  conversationId: string
  seq: number
  senderId: string
  body: string
  clientMessageId: string
  createdAt: string
  readAt: string | null
  removed: boolean
}

/** Postgres renders timestamps in JSON with its own offset format; clients get ISO 8601 UTC. */
export function toMessage(json: MessageJson): Message {
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
  }
}

export function toIso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

export function toListeners(json: unknown): Listener[] {
  return (json ?? []) as Listener[]
}
