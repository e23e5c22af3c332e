import { sql, type Kysely, type RawBuilder } from 'kysely'
import * as z from 'zod/mini'
import {
  AUDIT_ACTIONS,
  AUDIT_TARGETS,
  type AdminConversation,
  type AdminMessage,
  type AdminUser,
  type AuditEntry,
  type Notified,
  type UserRef,
} from '../core/admin/model.ts'
import type { AdminStore, AdminTransaction, ConversationState, UserState } from '../core/admin/ports.ts'
import { ROLES, type ConversationStatus, type Identity, type Role } from '../core/model.ts'
import { adminTransaction, recordAudit } from './admin-transaction.ts'
import { forgetConnections } from './chat-store.ts'
import type { Database } from './database-schema.ts'
import { paginate, replyToJson, single, toIso, type MessageJson } from './sql-fragments.ts'

/**
 * The admin store on Postgres. Each request runs SERIALIZABLE: the rules the use cases check
 * across rows (a trainer has no members left, the pair has no other open conversation) cannot
 * be invalidated by a concurrent admin request between the check and the write; Postgres aborts
 * one of the two instead, and the whole request runs again. Chat traffic is unaffected: it
 * never waits on these transactions longer than a row lock. The transaction's first statement
 * resolves the caller (admin-transaction.ts); every statement after it is a plain query.
 */
export function createAdminStore(db: Kysely<Database>): AdminStore {
  return {
    transaction: (identity, work) => adminTransaction(db, identity, createAdminTransaction, work),

    forgetConnections: (connectionIds, options) => forgetConnections(db, connectionIds, options),
  }
}

// ---- Fragments ----

/** A timestamp with Postgres' full microsecond precision, as an ISO 8601 string for cursors. */
export function preciseIso(column: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

/** Columns of a conversation `cv` with its member `m` and trainer `t`. */
export const conversationColumns = sql`
  cv.id, cv.status, cv.closed_at, cv.closed_reason, cv.last_seq, cv.last_message_at, cv.created_at, cv.updated_at,
  m.id AS member_id, m.email AS member_email, m.display_name AS member_display_name,
  t.id AS trainer_id, t.email AS trainer_email, t.display_name AS trainer_display_name,
  ${preciseIso(sql`cv.updated_at`)} AS sort_at`
export const conversationParticipants = sql`JOIN users m ON m.id = cv.member_id JOIN users t ON t.id = cv.trainer_id`

/** Live connection ids of both participants of conversation `cv`, as a JSON array. */
const participantConnections = sql`(
  SELECT coalesce(json_agg(k.connection_id), '[]'::json) FROM connections k
  WHERE k.user_id IN (cv.member_id, cv.trainer_id) AND k.expires_at > now()
)`

/** What closing a conversation sets, and what reopening it clears. */
const closedColumns = (reason: string) => sql`status = 'closed', closed_at = now(), closed_reason = ${reason}, updated_at = now()`
const reopenedColumns = sql`status = 'open', closed_at = NULL, closed_reason = NULL, updated_at = now()`

/**
 * Closes every open conversation `userId` takes part in (but the one with `spareTrainerId`); each
 * closed conversation's id with its participants' live connections, in id order. Shared with the
 * erasure (privacy-store.ts).
 */
export async function closeConversationsOf(
  trx: Kysely<Database>,
  userId: string,
  reason: string,
  spareTrainerId?: string,
): Promise<Notified<string>[]> {
  const { rows } = await sql<{ id: string; connection_ids: string[] }>`
    WITH closed AS (
      UPDATE conversations SET ${closedColumns(reason)}
      WHERE status = 'open' AND (member_id = ${userId} OR trainer_id = ${userId})
        ${spareTrainerId ? sql`AND trainer_id <> ${spareTrainerId}` : sql``}
      RETURNING id, member_id, trainer_id
    )
    SELECT cv.id, ${participantConnections} AS connection_ids FROM closed cv ORDER BY cv.id`.execute(trx)
  return rows.map((row) => ({ value: row.id, connectionIds: row.connection_ids }))
}

/**
 * A message `p` as moderators see it (the original body and attachment, even when hidden or
 * deleted), with the moderator `h` who hid it and every earlier version of an edited one.
 */
export const adminMessageJson = sql`json_build_object(
  'id', p.id, 'conversationId', p.conversation_id, 'seq', p.seq, 'senderId', p.sender_id, 'body', p.body,
  'clientMessageId', p.client_message_id, 'createdAt', p.created_at, 'readAt', p.read_at,
  'removed', p.hidden_at IS NOT NULL, 'hiddenAt', p.hidden_at, 'hiddenReason', p.hidden_reason,
  -- Both lookups are correlated (at most one per page row) rather than joins, so the planner never
  -- hashes all users; and guarded by CASE, so a row without one runs none: with a small users table
  -- the planner otherwise picks a seq scan per row even for a NULL key (bench/README.md, item 6).
  'attachment', CASE WHEN p.attachment_id IS NULL THEN NULL ELSE (
    SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
    FROM attachments att WHERE att.id = p.attachment_id) END,
  'hiddenBy', CASE WHEN p.hidden_by IS NULL THEN NULL ELSE (
    SELECT json_build_object('id', h.id, 'email', h.email, 'displayName', h.display_name)
    FROM users h WHERE h.id = p.hidden_by) END,
  'editedAt', p.edited_at, 'deletedAt', p.deleted_at,
  'replyTo', ${replyToJson('p', 'admin')},
  'reactions', p.reactions,
  -- Only edited messages have versions; the index on (message_id, id) serves the lookup.
  'edits', CASE WHEN p.edited_at IS NULL THEN '[]'::json ELSE (
    SELECT coalesce(json_agg(json_build_object('body', e.body, 'editedAt', e.edited_at) ORDER BY e.id), '[]'::json)
    FROM message_edits e WHERE e.message_id = p.id) END)`

// ---- Row shapes and mapping ----

type Time = Date | string

export interface ConversationRow {
  id: string
  status: ConversationStatus
  closed_at: Time | null
  closed_reason: string | null
  last_seq: number
  last_message_at: Time | null
  created_at: Time
  updated_at: Time
  member_id: string
  member_email: string
  member_display_name: string
  trainer_id: string
  trainer_email: string
  trainer_display_name: string
  sort_at: string
}

/** The participant's message JSON plus what only moderators see. */
export interface AdminMessageJson extends Omit<MessageJson, 'attachment'> {
  hiddenAt: string | null
  hiddenReason: string | null
  hiddenBy: UserRef | null
  attachment: AdminMessage['attachment']
  edits: AdminMessage['edits']
}

export const isoOrNull = (value: Time | null) => (value === null ? null : toIso(value))

export function toConversation(row: ConversationRow): AdminConversation {
  return {
    id: row.id,
    status: row.status,
    closedAt: isoOrNull(row.closed_at),
    closedReason: row.closed_reason,
    member: { id: row.member_id, email: row.member_email, displayName: row.member_display_name },
    trainer: { id: row.trainer_id, email: row.trainer_email, displayName: row.trainer_display_name },
    messageCount: Number(row.last_seq),
    lastMessageAt: isoOrNull(row.last_message_at),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  }
}

export function toAdminMessage(json: AdminMessageJson): AdminMessage {
  return {
    ...json,
    createdAt: toIso(json.createdAt),
    readAt: isoOrNull(json.readAt),
    hiddenAt: isoOrNull(json.hiddenAt),
    editedAt: isoOrNull(json.editedAt),
    deletedAt: isoOrNull(json.deletedAt),
    edits: json.edits.map((edit) => ({ body: edit.body, editedAt: toIso(edit.editedAt) })),
  }
}

/** A user `u` with their trainer `t`; the row type comes from database-schema.ts. */
function usersWithTrainer(trx: Kysely<Database>) {
  return trx
    .selectFrom('users as u')
    .leftJoin('users as t', 't.id', 'u.trainer_id')
    .select([
      'u.id',
      'u.email',
      'u.display_name',
      'u.role',
      'u.disabled_at',
      'u.created_at',
      't.id as trainer_id',
      't.email as trainer_email',
      't.display_name as trainer_display_name',
    ])
}
type UserRow = Awaited<ReturnType<ReturnType<typeof usersWithTrainer>['executeTakeFirstOrThrow']>>

function toUser(row: UserRow): AdminUser {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    role: row.role,
    trainer:
      row.trainer_id === null
        ? null
        : { id: row.trainer_id, email: row.trainer_email ?? '', displayName: row.trainer_display_name ?? '' },
    disabledAt: isoOrNull(row.disabled_at),
    createdAt: toIso(row.created_at),
  }
}

/** audit_log's text and jsonb columns as the audit trail types them. */
const AuditColumns = z.object({
  action: z.enum(AUDIT_ACTIONS),
  target_type: z.enum(AUDIT_TARGETS),
  details: z.record(z.string(), z.unknown()),
})

/** A user `u` with the number of members assigned to them, as JSON. */
const userStateJson = sql`json_build_object(
  'id', u.id, 'role', u.role, 'trainerId', u.trainer_id, 'disabledAt', u.disabled_at, 'erasedAt', u.erased_at,
  'assignedMembers', (SELECT count(*) FROM users x WHERE x.trainer_id = u.id))`

const UserStateJson = z.nullable(
  z.object({
    id: z.string(),
    role: z.enum(ROLES),
    trainerId: z.nullable(z.string()),
    disabledAt: z.nullable(z.string()),
    erasedAt: z.nullable(z.string()),
    assignedMembers: z.number(),
  }),
)

function toUserState(json: unknown): UserState | null {
  const user = UserStateJson.parse(json)
  return user && { ...user, disabledAt: isoOrNull(user.disabledAt), erasedAt: isoOrNull(user.erasedAt) }
}

// ---- The transaction's statements (after the caller was resolved: plain queries) ----

export function createAdminTransaction(trx: Kysely<Database>): AdminTransaction {
  const conversation = async (conversationId: string) => {
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns} FROM conversations cv ${conversationParticipants}
      WHERE cv.id = ${conversationId}`.execute(trx)
    return toConversation(single(rows))
  }

  /** Closes or reopens a conversation (`set`: the status columns); returns it with its participants' live connections. */
  const setStatus = async (conversationId: string, set: RawBuilder<unknown>) => {
    const { rows } = await sql<ConversationRow & { connection_ids: string[] }>`
      WITH updated AS (
        UPDATE conversations SET ${set}
        WHERE id = ${conversationId}
        RETURNING *
      )
      SELECT ${conversationColumns}, ${participantConnections} AS connection_ids
      FROM updated cv ${conversationParticipants}`.execute(trx)
    const row = single(rows)
    return { value: toConversation(row), connectionIds: row.connection_ids }
  }

  return {
    async listConversations(filter) {
      const { rows } = await sql<ConversationRow>`
        SELECT ${conversationColumns}
        FROM conversations cv ${conversationParticipants}
        WHERE true
          ${filter.status ? sql`AND cv.status = ${filter.status}` : sql``}
          ${filter.trainerId ? sql`AND cv.trainer_id = ${filter.trainerId}` : sql``}
          ${filter.memberId ? sql`AND cv.member_id = ${filter.memberId}` : sql``}
          ${filter.after ? sql`AND (cv.updated_at, cv.id) < (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)` : sql``}
        ORDER BY cv.updated_at DESC, cv.id DESC
        LIMIT ${filter.limit + 1}`.execute(trx)
      return paginate(rows, filter.limit, toConversation, (row) => ({ at: row.sort_at, id: row.id }))
    },

    async conversationHistory(conversationId, page) {
      const before = page.before === undefined ? sql`` : sql`AND m.seq < ${page.before}`
      const { rows } = await sql<{ found: boolean; messages: AdminMessageJson[] }>`
        SELECT EXISTS (SELECT 1 FROM conversations WHERE id = ${conversationId}) AS found,
          (SELECT coalesce(json_agg(${adminMessageJson} ORDER BY p.seq), '[]'::json)
           FROM (
             SELECT m.* FROM messages m
             WHERE m.conversation_id = ${conversationId} ${before}
             ORDER BY m.seq DESC LIMIT ${page.limit + 1}
           ) p) AS messages`.execute(trx)
      const row = single(rows)
      const messages = row.messages.map(toAdminMessage)
      const hasMore = messages.length > page.limit
      // The extra row is the oldest: drop it.
      return { found: row.found, messages: hasMore ? messages.slice(1) : messages, hasMore }
    },

    async listUsers(filter) {
      let query = usersWithTrainer(trx)
      if (filter.role) query = query.where('u.role', '=', filter.role)
      if (filter.after) query = query.where(sql<boolean>`(u.email, u.id) > (${filter.after.email}, ${filter.after.id}::uuid)`)
      const rows = await query.orderBy('u.email').orderBy('u.id').limit(filter.limit + 1).execute()
      return paginate(rows, filter.limit, toUser, (row) => ({ email: row.email, id: row.id }))
    },

    async listAudit(page) {
      let query = trx
        .selectFrom('audit_log as a')
        .innerJoin('users as u', 'u.id', 'a.actor_id')
        .select([
          'a.id',
          'a.action',
          'a.target_type',
          'a.target_id',
          'a.reason',
          'a.details',
          'a.created_at',
          'u.id as actor_user_id',
          'u.email as actor_email',
          'u.display_name as actor_display_name',
          preciseIso(sql`a.created_at`).as('sort_at'),
        ])
      if (page.after) query = query.where(sql<boolean>`(a.created_at, a.id) < (${page.after.at}::timestamptz, ${page.after.id}::uuid)`)
      const rows = await query.orderBy('a.created_at', 'desc').orderBy('a.id', 'desc').limit(page.limit + 1).execute()
      return paginate(
        rows,
        page.limit,
        (row): AuditEntry => {
          const { action, target_type, details } = AuditColumns.parse(row)
          return {
            id: row.id,
            actor: { id: row.actor_user_id, email: row.actor_email, displayName: row.actor_display_name },
            action,
            targetType: target_type,
            targetId: row.target_id,
            reason: row.reason,
            details,
            createdAt: toIso(row.created_at),
          }
        },
        (row) => ({ at: row.sort_at, id: row.id }),
      )
    },

    async loadConversation(conversationId) {
      const row = await trx
        .selectFrom('conversations as cv')
        .innerJoin('users as m', 'm.id', 'cv.member_id')
        .innerJoin('users as t', 't.id', 'cv.trainer_id')
        .select((eb) => [
          'cv.id',
          'cv.member_id',
          'cv.trainer_id',
          'cv.status',
          'm.trainer_id as assigned_trainer_id',
          eb
            .selectFrom('conversations as o')
            .select('o.id')
            .whereRef('o.member_id', '=', 'cv.member_id')
            .whereRef('o.trainer_id', '=', 'cv.trainer_id')
            .where('o.status', '=', 'open')
            .whereRef('o.id', '<>', 'cv.id')
            .limit(1)
            .as('other_open_id'),
          sql<boolean>`m.erased_at IS NOT NULL OR t.erased_at IS NOT NULL`.as('participant_erased'),
        ])
        .where('cv.id', '=', conversationId)
        .executeTakeFirst()
      if (!row) return null
      const state: ConversationState = {
        id: row.id,
        memberId: row.member_id,
        trainerId: row.trainer_id,
        status: row.status,
        assignedTrainerId: row.assigned_trainer_id,
        otherOpenId: row.other_open_id,
        participantErased: row.participant_erased,
      }
      return state
    },

    async loadMessage(messageId) {
      const row = await trx.selectFrom('messages').select(['id', 'hidden_at']).where('id', '=', messageId).executeTakeFirst()
      return row ? { id: row.id, hidden: row.hidden_at !== null } : null
    },

    async loadUsers(userId, trainerId) {
      const { rows } = await sql<{ user: unknown; trainer: unknown }>`
        SELECT
          (SELECT ${userStateJson} FROM users u WHERE u.id = ${userId}) AS user,
          (SELECT ${userStateJson} FROM users u WHERE u.id = ${trainerId ?? null}::uuid) AS trainer`.execute(trx)
      const row = single(rows)
      return { user: toUserState(row.user), trainer: toUserState(row.trainer) }
    },

    closeConversation: (conversationId, reason) => setStatus(conversationId, closedColumns(reason)),

    reopenConversation: (conversationId) => setStatus(conversationId, reopenedColumns),

    closeConversationsOf: (userId, reason, spareTrainerId) => closeConversationsOf(trx, userId, reason, spareTrainerId),

    async hideMessage(messageId, hiddenBy, reason) {
      const { rows } = await sql<{ message: AdminMessageJson; connection_ids: string[] }>`
        WITH hidden AS (
          UPDATE messages SET hidden_at = now(), hidden_by = ${hiddenBy}, hidden_reason = ${reason}
          WHERE id = ${messageId}
          RETURNING *
        )
        SELECT ${adminMessageJson} AS message, ${participantConnections} AS connection_ids
        FROM hidden p
        JOIN conversations cv ON cv.id = p.conversation_id`.execute(trx)
      const row = single(rows)
      return { value: toAdminMessage(row.message), connectionIds: row.connection_ids }
    },

    async openConversation(memberId, trainerId) {
      const { rows } = await sql<{ id: string; outcome: 'existing' | 'reopened' | 'created'; connection_ids: string[] }>`
        WITH latest AS (
          SELECT id, status FROM conversations
          WHERE member_id = ${memberId} AND trainer_id = ${trainerId}
          ORDER BY status = 'open' DESC, updated_at DESC, id DESC
          LIMIT 1
        ),
        reopened AS (
          UPDATE conversations cv SET ${reopenedColumns}
          FROM latest
          WHERE cv.id = latest.id AND latest.status = 'closed'
          RETURNING cv.id
        ),
        created AS (
          INSERT INTO conversations (member_id, trainer_id)
          SELECT ${memberId}, ${trainerId} WHERE NOT EXISTS (SELECT 1 FROM latest)
          RETURNING id
        )
        SELECT o.id, o.outcome, (
          -- Both participants' live connections, to hear conversationOpened after the commit (#13).
          SELECT coalesce(json_agg(k.connection_id), '[]'::json) FROM connections k
          WHERE k.user_id IN (${memberId}, ${trainerId}) AND k.expires_at > now()
        ) AS connection_ids
        FROM (
          SELECT id, 'existing' AS outcome FROM latest WHERE status = 'open'
          UNION ALL SELECT id, 'reopened' FROM reopened
          UNION ALL SELECT id, 'created' FROM created
        ) o`.execute(trx)
      const row = single(rows)
      return { conversationId: row.id, outcome: row.outcome, connectionIds: row.connection_ids }
    },

    async setTrainer(memberId, trainerId) {
      await trx.updateTable('users').set({ trainer_id: trainerId, updated_at: sql`now()` }).where('id', '=', memberId).execute()
    },

    async setRole(userId, role) {
      // Anyone who is no longer a member loses their assigned trainer.
      await trx
        .updateTable('users')
        .set({ role, ...(role === 'user' ? {} : { trainer_id: null }), updated_at: sql`now()` })
        .where('id', '=', userId)
        .execute()
    },

    async setDisabled(userId, disabled) {
      await trx
        .updateTable('users')
        .set({ disabled_at: disabled ? sql`now()` : null, updated_at: sql`now()` })
        .where('id', '=', userId)
        .execute()
    },

    async dropConnections(userId) {
      const rows = await trx.deleteFrom('connections').where('user_id', '=', userId).returning('connection_id').execute()
      return rows.map((row) => row.connection_id)
    },

    async user(userId) {
      return toUser(await usersWithTrainer(trx).where('u.id', '=', userId).executeTakeFirstOrThrow())
    },

    conversation,

    async latestConversation(memberId, trainerId) {
      const { rows } = await sql<ConversationRow>`
        SELECT ${conversationColumns} FROM conversations cv ${conversationParticipants}
        WHERE cv.member_id = ${memberId} AND cv.trainer_id = ${trainerId}
        ORDER BY cv.status = 'open' DESC, cv.updated_at DESC, cv.id DESC
        LIMIT 1`.execute(trx)
      const [row] = rows
      return row ? toConversation(row) : null
    },

    record: (entry) => recordAudit(trx, entry),
  }
}
