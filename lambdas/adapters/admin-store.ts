import { sql, type Kysely, type RawBuilder } from 'kysely'
import type {
  Actor,
  AdminConversation,
  AdminMessage,
  AdminStore,
  AdminTransaction,
  AdminUser,
  AuditEntry,
  ConversationState,
  UserRef,
  UserState,
} from '../core/admin.ts'
import { ChatError } from '../core/errors.ts'
import type { ConversationStatus, Identity, Role } from '../core/model.ts'
import { callerFromIdentity } from './app-queries.ts'
import { forgetConnections } from './chat-store.ts'
import type { Database } from './database-schema.ts'
import { isUniqueViolation, replyToJson, single, toIso, type MessageJson } from './sql-fragments.ts'

/**
 * The admin store on Postgres. Each request runs SERIALIZABLE: the rules the use cases check
 * across rows (a trainer has no members left, the pair has no other open conversation) cannot
 * be invalidated by a concurrent admin request between the check and the write; Postgres aborts
 * one of the two instead, and the whole request runs again. Chat traffic is unaffected: it
 * never waits on these transactions longer than a row lock.
 */
export function createAdminStore(db: Kysely<Database>): AdminStore {
  return {
    transaction: (work) => runSerializable(db, (trx) => work(createAdminTransaction(trx))),

    forgetConnections: (connectionIds, options) => forgetConnections(db, connectionIds, options),
  }
}

/**
 * Runs `work` in one SERIALIZABLE transaction, again (up to MAX_ATTEMPTS) when Postgres aborts
 * it for a conflict with a concurrent one; shared with the stores whose requests use the admin
 * statements (report-store.ts).
 */
export async function runSerializable<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().setIsolationLevel('serializable').execute(work)
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code
      if (RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue
      // A unique violation here is the one-open-conversation index losing a race that SSI did not catch.
      if (RETRYABLE.has(code) || isUniqueViolation(error)) {
        throw new ChatError('conflict', 'A concurrent change got in the way; try again', undefined, { cause: error })
      }
      throw error
    }
  }
}

const SERIALIZATION_FAILURE = '40001'
const DEADLOCK_DETECTED = '40P01'
const RETRYABLE = new Set<unknown>([SERIALIZATION_FAILURE, DEADLOCK_DETECTED])
const MAX_ATTEMPTS = 3

// ---- Fragments ----

/** The caller's columns, from the `caller` CTE aliased `c`. */
export const actorColumns = sql`c.user_id AS actor_id, c.role AS actor_role, c.disabled_at AS actor_disabled_at`
/** Reads return nothing to a non-admin even if a use case forgot to check. */
export const callerIsAdmin = sql`c.role = 'admin' AND c.disabled_at IS NULL`

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

/** Columns of a user `u` with their trainer `t`. */
const userColumns = sql`
  u.id, u.email, u.display_name, u.role, u.disabled_at, u.created_at,
  t.id AS trainer_id, t.email AS trainer_email, t.display_name AS trainer_display_name`

/** Live connection ids of both participants of conversation `cv`, as a JSON array. */
const participantConnections = sql`(
  SELECT coalesce(json_agg(k.connection_id), '[]'::json) FROM connections k
  WHERE k.user_id IN (cv.member_id, cv.trainer_id) AND k.expires_at > now()
)`

/**
 * A message `p` as moderators see it (the original body and attachment, even when hidden or
 * deleted), with the moderator `h` who hid it and every earlier version of an edited one.
 */
export const adminMessageJson = sql`json_build_object(
  'id', p.id, 'conversationId', p.conversation_id, 'seq', p.seq, 'senderId', p.sender_id, 'body', p.body,
  'clientMessageId', p.client_message_id, 'createdAt', p.created_at, 'readAt', p.read_at,
  'removed', p.hidden_at IS NOT NULL, 'hiddenAt', p.hidden_at, 'hiddenReason', p.hidden_reason,
  'attachment', (
    SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
    FROM attachments att WHERE att.id = p.attachment_id),
  -- A correlated lookup (at most one per page row) rather than a join, so the planner never hashes all users.
  'hiddenBy', (
    SELECT json_build_object('id', h.id, 'email', h.email, 'displayName', h.display_name)
    FROM users h WHERE h.id = p.hidden_by),
  'editedAt', p.edited_at, 'deletedAt', p.deleted_at,
  'replyTo', ${replyToJson('p', 'admin')},
  'reactions', p.reactions,
  -- Only edited messages have versions; the index on (message_id, id) serves the lookup.
  'edits', CASE WHEN p.edited_at IS NULL THEN '[]'::json ELSE (
    SELECT coalesce(json_agg(json_build_object('body', e.body, 'editedAt', e.edited_at) ORDER BY e.id), '[]'::json)
    FROM message_edits e WHERE e.message_id = p.id) END)`

// ---- Row shapes and mapping ----

type Time = Date | string

export interface ActorRow {
  actor_id: string
  actor_role: Role
  actor_disabled_at: Time | null
}

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

interface UserRow {
  id: string
  email: string
  display_name: string
  role: Role
  disabled_at: Time | null
  created_at: Time
  trainer_id: string | null
  trainer_email: string | null
  trainer_display_name: string | null
}

interface AuditRow {
  id: string
  actor_user_id: string
  actor_email: string
  actor_display_name: string
  action: AuditEntry['action']
  target_type: AuditEntry['targetType']
  target_id: string
  reason: string | null
  details: Record<string, unknown>
  created_at: Time
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

/** A LEFT JOIN LATERAL from `caller` yields one all-null row when the page is empty. */
export type Optional<T> = { [K in keyof T]: T[K] | null }

export const isoOrNull = (value: Time | null) => (value === null ? null : toIso(value))

export function toActor(row: ActorRow): Actor {
  return { userId: row.actor_id, role: row.actor_role, disabledAt: isoOrNull(row.actor_disabled_at) }
}

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

function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    actor: { id: row.actor_user_id, email: row.actor_email, displayName: row.actor_display_name },
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    reason: row.reason,
    details: row.details,
    createdAt: toIso(row.created_at),
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

/** Splits a page fetched with one extra row into its items and the key to continue after. */
export function paginate<R extends { id: string | null }, T, K>(
  rows: Optional<R>[],
  limit: number,
  map: (row: R) => T,
  keyOf: (row: R) => K,
): { items: T[]; nextKey: K | null } {
  const present = rows.filter((row): row is R => row.id !== null)
  const page = present.slice(0, limit)
  const last = page.at(-1)
  return { items: page.map(map), nextKey: present.length > limit && last ? keyOf(last) : null }
}

// ---- The transaction's statements ----

export function createAdminTransaction(trx: Kysely<Database>): AdminTransaction {
  const conversation = async (conversationId: string) => {
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns} FROM conversations cv ${conversationParticipants}
      WHERE cv.id = ${conversationId}`.execute(trx)
    return toConversation(single(rows))
  }

  return {
    async listConversations(identity, filter) {
      const { rows } = await sql<ActorRow & Optional<ConversationRow>>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, p.*
        FROM caller c
        LEFT JOIN LATERAL (
          SELECT ${conversationColumns}
          FROM conversations cv ${conversationParticipants}
          WHERE ${callerIsAdmin}
            ${filter.status ? sql`AND cv.status = ${filter.status}` : sql``}
            ${filter.trainerId ? sql`AND cv.trainer_id = ${filter.trainerId}` : sql``}
            ${filter.memberId ? sql`AND cv.member_id = ${filter.memberId}` : sql``}
            ${filter.after ? sql`AND (cv.updated_at, cv.id) < (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)` : sql``}
          ORDER BY cv.updated_at DESC, cv.id DESC
          LIMIT ${filter.limit + 1}
        ) p ON true
        ORDER BY p.updated_at DESC, p.id DESC`.execute(trx)
      const first = single(rows)
      return {
        actor: toActor(first),
        ...paginate(rows, filter.limit, toConversation, (row) => ({ at: row.sort_at, id: row.id })),
      }
    },

    async conversationHistory(identity, conversationId, page) {
      const before = page.before === undefined ? sql`` : sql`AND m.seq < ${page.before}`
      const { rows } = await sql<ActorRow & { found: boolean; messages: AdminMessageJson[] }>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns},
          ${callerIsAdmin} AND EXISTS (SELECT 1 FROM conversations WHERE id = ${conversationId}) AS found,
          (SELECT coalesce(json_agg(${adminMessageJson} ORDER BY p.seq), '[]'::json)
           FROM (
             SELECT m.* FROM messages m
             WHERE m.conversation_id = ${conversationId} AND ${callerIsAdmin} ${before}
             ORDER BY m.seq DESC LIMIT ${page.limit + 1}
           ) p) AS messages
        FROM caller c`.execute(trx)
      const row = single(rows)
      const messages = row.messages.map(toAdminMessage)
      const hasMore = messages.length > page.limit
      // The extra row is the oldest: drop it.
      return { actor: toActor(row), found: row.found, messages: hasMore ? messages.slice(1) : messages, hasMore }
    },

    async listUsers(identity, filter) {
      const { rows } = await sql<ActorRow & Optional<UserRow>>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, p.*
        FROM caller c
        LEFT JOIN LATERAL (
          SELECT ${userColumns}
          FROM users u LEFT JOIN users t ON t.id = u.trainer_id
          WHERE ${callerIsAdmin}
            ${filter.role ? sql`AND u.role = ${filter.role}` : sql``}
            ${filter.after ? sql`AND (u.email, u.id) > (${filter.after.email}, ${filter.after.id}::uuid)` : sql``}
          ORDER BY u.email, u.id
          LIMIT ${filter.limit + 1}
        ) p ON true
        ORDER BY p.email, p.id`.execute(trx)
      return {
        actor: toActor(single(rows)),
        ...paginate(rows, filter.limit, toUser, (row) => ({ email: row.email, id: row.id })),
      }
    },

    async listAudit(identity, page) {
      const { rows } = await sql<ActorRow & Optional<AuditRow>>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, p.*
        FROM caller c
        LEFT JOIN LATERAL (
          SELECT a.id, a.action, a.target_type, a.target_id, a.reason, a.details, a.created_at,
            u.id AS actor_user_id, u.email AS actor_email, u.display_name AS actor_display_name,
            ${preciseIso(sql`a.created_at`)} AS sort_at
          FROM audit_log a JOIN users u ON u.id = a.actor_id
          WHERE ${callerIsAdmin}
            ${page.after ? sql`AND (a.created_at, a.id) < (${page.after.at}::timestamptz, ${page.after.id}::uuid)` : sql``}
          ORDER BY a.created_at DESC, a.id DESC
          LIMIT ${page.limit + 1}
        ) p ON true
        ORDER BY p.created_at DESC, p.id DESC`.execute(trx)
      return {
        actor: toActor(single(rows)),
        ...paginate(rows, page.limit, toAuditEntry, (row) => ({ at: row.sort_at, id: row.id })),
      }
    },

    async loadConversation(identity, conversationId) {
      const { rows } = await sql<
        ActorRow & Optional<{ id: string; member_id: string; trainer_id: string; status: ConversationStatus }> & {
          assigned_trainer_id: string | null
          other_open_id: string | null
          participant_erased: boolean | null
        }
      >`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, cv.id, cv.member_id, cv.trainer_id, cv.status, m.trainer_id AS assigned_trainer_id,
          (SELECT o.id FROM conversations o
           WHERE o.member_id = cv.member_id AND o.trainer_id = cv.trainer_id AND o.status = 'open' AND o.id <> cv.id
           LIMIT 1) AS other_open_id,
          (SELECT bool_or(x.erased_at IS NOT NULL) FROM users x WHERE x.id IN (cv.member_id, cv.trainer_id)) AS participant_erased
        FROM caller c
        LEFT JOIN conversations cv ON cv.id = ${conversationId}
        LEFT JOIN users m ON m.id = cv.member_id`.execute(trx)
      const row = single(rows)
      const { id, member_id, trainer_id, status } = row
      const conversation: ConversationState | null =
        id === null || member_id === null || trainer_id === null || status === null
          ? null
          : {
              id,
              memberId: member_id,
              trainerId: trainer_id,
              status,
              assignedTrainerId: row.assigned_trainer_id,
              otherOpenId: row.other_open_id,
              participantErased: row.participant_erased === true,
            }
      return { actor: toActor(row), conversation }
    },

    async loadMessage(identity, messageId) {
      const { rows } = await sql<ActorRow & { id: string | null; hidden: boolean | null }>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, p.id, p.hidden_at IS NOT NULL AS hidden
        FROM caller c LEFT JOIN messages p ON p.id = ${messageId}`.execute(trx)
      const row = single(rows)
      return { actor: toActor(row), message: row.id === null ? null : { id: row.id, hidden: row.hidden === true } }
    },

    async loadUsers(identity, userId, trainerId) {
      const { rows } = await sql<
        ActorRow & {
          user: UserStateJson | null
          trainer: UserStateJson | null
        }
      >`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns},
          (SELECT ${userStateJson} FROM users u WHERE u.id = ${userId}) AS user,
          (SELECT ${userStateJson} FROM users u WHERE u.id = ${trainerId ?? null}::uuid) AS trainer
        FROM caller c`.execute(trx)
      const row = single(rows)
      return { actor: toActor(row), user: toUserState(row.user), trainer: toUserState(row.trainer) }
    },

    async closeConversation(conversationId, reason) {
      const { rows } = await sql<ConversationRow & { connection_ids: string[] }>`
        WITH closed AS (
          UPDATE conversations SET status = 'closed', closed_at = now(), closed_reason = ${reason}, updated_at = now()
          WHERE id = ${conversationId}
          RETURNING *
        )
        SELECT ${conversationColumns}, ${participantConnections} AS connection_ids
        FROM closed cv ${conversationParticipants}`.execute(trx)
      const row = single(rows)
      return { value: toConversation(row), connectionIds: row.connection_ids }
    },

    async reopenConversation(conversationId) {
      const { rows } = await sql<ConversationRow & { connection_ids: string[] }>`
        WITH reopened AS (
          UPDATE conversations SET status = 'open', closed_at = NULL, closed_reason = NULL, updated_at = now()
          WHERE id = ${conversationId}
          RETURNING *
        )
        SELECT ${conversationColumns}, ${participantConnections} AS connection_ids
        FROM reopened cv ${conversationParticipants}`.execute(trx)
      const row = single(rows)
      return { value: toConversation(row), connectionIds: row.connection_ids }
    },

    async closeConversationsOf(userId, reason, spareTrainerId) {
      const { rows } = await sql<{ id: string; connection_ids: string[] }>`
        WITH closed AS (
          UPDATE conversations SET status = 'closed', closed_at = now(), closed_reason = ${reason}, updated_at = now()
          WHERE status = 'open' AND (member_id = ${userId} OR trainer_id = ${userId})
            ${spareTrainerId ? sql`AND trainer_id <> ${spareTrainerId}` : sql``}
          RETURNING id, member_id, trainer_id
        )
        SELECT cv.id, ${participantConnections} AS connection_ids FROM closed cv ORDER BY cv.id`.execute(trx)
      return rows.map((row) => ({ value: row.id, connectionIds: row.connection_ids }))
    },

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

    async setTrainer(memberId, trainerId) {
      await sql`UPDATE users SET trainer_id = ${trainerId}, updated_at = now() WHERE id = ${memberId}`.execute(trx)
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
          UPDATE conversations cv SET status = 'open', closed_at = NULL, closed_reason = NULL, updated_at = now()
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

    async setRole(userId, role) {
      await sql`
        UPDATE users
        SET role = ${role}, trainer_id = CASE WHEN ${role}::text = 'user' THEN trainer_id END, updated_at = now()
        WHERE id = ${userId}`.execute(trx)
    },

    async setDisabled(userId, disabled) {
      await sql`
        UPDATE users
        SET disabled_at = CASE WHEN ${disabled}::boolean THEN now() END, updated_at = now()
        WHERE id = ${userId}`.execute(trx)
    },

    async dropConnections(userId) {
      const { rows } = await sql<{ connection_id: string }>`
        DELETE FROM connections WHERE user_id = ${userId} RETURNING connection_id`.execute(trx)
      return rows.map((row) => row.connection_id)
    },

    async user(userId) {
      const { rows } = await sql<UserRow>`
        SELECT ${userColumns} FROM users u LEFT JOIN users t ON t.id = u.trainer_id WHERE u.id = ${userId}`.execute(trx)
      return toUser(single(rows))
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

    async record(entry) {
      await sql`
        INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, details)
        VALUES (${entry.actorId}, ${entry.action}, ${entry.targetType}, ${entry.targetId}, ${entry.reason},
          ${JSON.stringify(entry.details)}::jsonb)`.execute(trx)
    },
  }
}

interface UserStateJson {
  id: string
  role: Role
  trainerId: string | null
  disabledAt: string | null
  erasedAt: string | null
  assignedMembers: number
}

/** A user `u` with the number of members assigned to them, as JSON. */
const userStateJson = sql`json_build_object(
  'id', u.id, 'role', u.role, 'trainerId', u.trainer_id, 'disabledAt', u.disabled_at, 'erasedAt', u.erased_at,
  'assignedMembers', (SELECT count(*) FROM users x WHERE x.trainer_id = u.id))`

function toUserState(json: UserStateJson | null): UserState | null {
  if (!json) return null
  return { ...json, disabledAt: isoOrNull(json.disabledAt), erasedAt: isoOrNull(json.erasedAt), assignedMembers: Number(json.assignedMembers) }
}
