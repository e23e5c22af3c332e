import { sql, type Kysely, type RawBuilder } from 'kysely'
import * as z from 'zod/mini'
import { ROLES } from '../core/model.ts'
import {
  ERASED_DISPLAY_NAME,
  type ErasedData,
  type ErasureStore,
  type ErasureTarget,
  type ErasureTransaction,
  type PendingDeletion,
  type PrivacyQueries,
  type StoredExportDocument,
  type StoredExportMessage,
} from '../core/privacy.ts'
import { closeConversationsOf } from './admin-store.ts'
import { adminTransaction, recordAudit, runSerializable } from './admin-transaction.ts'
import type { Database } from './database-schema.ts'
import { paginate, single, toIso } from './sql-fragments.ts'
import { callerFromIdentity } from './users-upsert.ts'

/** Export and erasure on Postgres (core/privacy.ts). */

/** A timestamp as ISO 8601 UTC with milliseconds, inside JSON built by Postgres. */
function iso(column: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
}

/**
 * The export's sections, each a scalar JSON subquery over the `caller` CTE aliased `c`. A new
 * table that holds something about the user is one more entry here (and in ExportDocument and
 * ExportDocumentView).
 */
const EXPORT_SECTIONS: Record<Exclude<keyof StoredExportDocument, 'exportedAt'>, RawBuilder<unknown>> = {
  profile: sql`(
    SELECT json_build_object('id', u.id, 'subject', u.subject, 'email', u.email, 'displayName', u.display_name,
      'role', u.role, 'trainerId', u.trainer_id, 'createdAt', ${iso(sql`u.created_at`)}, 'updatedAt', ${iso(sql`u.updated_at`)})
    FROM users u WHERE u.id = c.user_id)`,
  // Every conversation they took part in, also closed ones and those with a former trainer.
  conversations: sql`(
    SELECT coalesce(json_agg(json_build_object(
      'id', cv.id, 'as', CASE WHEN cv.member_id = c.user_id THEN 'member' ELSE 'trainer' END,
      'memberId', cv.member_id, 'trainerId', cv.trainer_id, 'status', cv.status,
      'closedAt', ${iso(sql`cv.closed_at`)}, 'closedReason', cv.closed_reason,
      'createdAt', ${iso(sql`cv.created_at`)}, 'lastMessageAt', ${iso(sql`cv.last_message_at`)}, 'messageCount', cv.last_seq,
      'lastReadSeq', (SELECT max(m.seq) FROM messages m
        WHERE m.conversation_id = cv.id AND m.sender_id <> c.user_id AND m.read_at IS NOT NULL),
      'unreadCount', (SELECT count(*) FROM messages m
        WHERE m.conversation_id = cv.id AND m.sender_id <> c.user_id AND m.read_at IS NULL AND m.hidden_at IS NULL),
      'muted', EXISTS (SELECT 1 FROM notification_mutes nm WHERE nm.user_id = c.user_id AND nm.conversation_id = cv.id)
    ) ORDER BY cv.created_at, cv.id), '[]'::json)
    FROM conversations cv WHERE c.user_id IN (cv.member_id, cv.trainer_id))`,
  devices: sql`(
    SELECT coalesce(json_agg(json_build_object('platform', d.platform, 'enabled', d.enabled,
      'createdAt', ${iso(sql`d.created_at`)}, 'updatedAt', ${iso(sql`d.updated_at`)}) ORDER BY d.created_at, d.token), '[]'::json)
    FROM devices d WHERE d.user_id = c.user_id)`,
  notificationSettings: sql`json_build_object(
    'muted', EXISTS (SELECT 1 FROM notification_mutes nm WHERE nm.user_id = c.user_id AND nm.conversation_id IS NULL),
    'mutedConversationIds', (SELECT coalesce(json_agg(nm.conversation_id ORDER BY nm.conversation_id), '[]'::json)
      FROM notification_mutes nm WHERE nm.user_id = c.user_id AND nm.conversation_id IS NOT NULL))`,
  unsentUploads: sql`(
    SELECT coalesce(json_agg(json_build_object('id', att.id, 'conversationId', att.conversation_id, 'fileName', att.file_name,
      'contentType', att.content_type, 'size', att.size, 'createdAt', ${iso(sql`att.created_at`)}) ORDER BY att.created_at, att.id), '[]'::json)
    FROM attachments att WHERE att.uploader_id = c.user_id AND att.message_id IS NULL)`,
  accountHistory: sql`(
    SELECT coalesce(json_agg(json_build_object('action', al.action, 'reason', al.reason, 'createdAt', ${iso(sql`al.created_at`)})
      ORDER BY al.created_at, al.id), '[]'::json)
    FROM audit_log al WHERE al.target_type = 'user' AND al.target_id = c.user_id)`,
  // messages.reactions is [{emoji, userIds}] (0007): the caller's entries in their conversations.
  reactions: sql`(
    SELECT coalesce(json_agg(json_build_object('conversationId', m.conversation_id, 'messageId', m.id, 'emoji', r.value->>'emoji')
      ORDER BY m.conversation_id, m.seq, r.ordinality), '[]'::json)
    FROM messages m CROSS JOIN LATERAL jsonb_array_elements(m.reactions) WITH ORDINALITY AS r(value, ordinality)
    WHERE m.conversation_id IN (SELECT cv.id FROM conversations cv WHERE c.user_id IN (cv.member_id, cv.trainer_id))
      AND r.value->'userIds' ? c.user_id::text)`,
  messageEdits: sql`(
    SELECT coalesce(json_agg(json_build_object('messageId', e.message_id, 'body', e.body, 'editedAt', ${iso(sql`e.edited_at`)})
      ORDER BY e.message_id, e.id), '[]'::json)
    FROM message_edits e JOIN messages m ON m.id = e.message_id WHERE m.sender_id = c.user_id)`,
  reportsFiled: sql`(
    SELECT coalesce(json_agg(json_build_object('id', r.id, 'messageId', r.message_id, 'reason', r.reason, 'note', r.note,
      'status', r.status, 'createdAt', ${iso(sql`r.created_at`)}, 'resolvedAt', ${iso(sql`r.resolved_at`)}, 'resolution', r.resolution)
      ORDER BY r.created_at, r.id), '[]'::json)
    FROM reports r WHERE r.reporter_id = c.user_id)`,
}

/**
 * A message `p` as the caller `c` exports it. Their own messages keep what is stored (a
 * moderator's removal or their own deletion hides it from the other participant, not from
 * them); the other participant's removed or deleted messages are withheld, as in the app.
 */
const exportMessageJson = sql`json_build_object(
  'id', p.id, 'conversationId', p.conversation_id, 'seq', p.seq, 'senderId', p.sender_id, 'sentByMe', p.sender_id = c.user_id,
  'body', CASE WHEN p.sender_id = c.user_id OR (p.hidden_at IS NULL AND p.deleted_at IS NULL) THEN p.body ELSE '' END,
  'clientMessageId', p.client_message_id, 'createdAt', ${iso(sql`p.created_at`)}, 'readAt', ${iso(sql`p.read_at`)},
  'editedAt', ${iso(sql`p.edited_at`)}, 'deletedAt', ${iso(sql`p.deleted_at`)}, 'removed', p.hidden_at IS NOT NULL,
  'replyToId', p.reply_to_id,
  'attachment', (
    SELECT json_build_object('id', att.id, 'fileName', att.file_name, 'contentType', att.content_type, 'size', att.size)
    FROM attachments att
    WHERE att.id = p.attachment_id AND (p.sender_id = c.user_id OR (p.hidden_at IS NULL AND p.deleted_at IS NULL))))`

export function createPrivacyQueries(db: Kysely<Database>): PrivacyQueries {
  return {
    async exportDocument(identity) {
      const sections = Object.entries(EXPORT_SECTIONS).map(([name, fragment]) => sql`${name}::text, ${fragment}`)
      const { rows } = await sql<{ disabled: boolean; document: StoredExportDocument }>`
        WITH ${callerFromIdentity(identity)}
        SELECT c.disabled_at IS NOT NULL AS disabled,
          json_build_object('exportedAt', ${iso(sql`now()`)}, ${sql.join(sections)}) AS document
        FROM caller c`.execute(db)
      const row = single(rows)
      return row.disabled ? null : row.document
    },

    /**
     * One page in (conversation, seq) order, across every conversation the caller took part in;
     * keyset on the (conversation_id, seq) unique index, so a page costs the same at any depth.
     */
    async exportMessages(identity, page) {
      const after = page.after ? sql`AND (p.conversation_id, p.seq) > (${page.after.conversationId}::uuid, ${page.after.seq}::int)` : sql``
      const { rows } = await sql<{ disabled: boolean; messages: StoredExportMessage[] }>`
        WITH ${callerFromIdentity(identity)}
        SELECT c.disabled_at IS NOT NULL AS disabled,
          (SELECT coalesce(json_agg(${exportMessageJson} ORDER BY p.conversation_id, p.seq), '[]'::json)
           FROM (
             SELECT p.* FROM messages p
             WHERE p.conversation_id IN (SELECT cv.id FROM conversations cv WHERE c.user_id IN (cv.member_id, cv.trainer_id))
               AND c.disabled_at IS NULL ${after}
             ORDER BY p.conversation_id, p.seq
             LIMIT ${page.limit + 1}
           ) p) AS messages
        FROM caller c`.execute(db)
      const row = single(rows)
      if (row.disabled) return null
      const { items: messages, nextKey } = paginate(
        row.messages,
        page.limit,
        (message) => message,
        (last) => ({ conversationId: last.conversationId, seq: last.seq }),
      )
      return { messages, nextKey }
    },
  }
}

// ---- Erasure ----

/** Like the admin store, SERIALIZABLE: the checks (not erased yet, no assigned members) cannot go stale before the writes. */
export function createErasureStore(db: Kysely<Database>): ErasureStore {
  return {
    // A unique violation is not a lost race here but a failure of its own (as the caller lookup's
    // email race, which errorBodies answers `unavailable`).
    transaction: (identity, work) => adminTransaction(db, identity, createErasureTransaction, work, ERASURE),

    async eraseAgain(userId) {
      await runSerializable(db, (trx) => createErasureTransaction(trx).erase(userId), ERASURE)
    },

    async pendingDeletions(limit) {
      const rows = await db
        .selectFrom('pending_deletions')
        .select(['id', 'kind', 'target'])
        .where('done_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit)
        .execute()
      return rows
    },

    async erasedWithLeftovers(limit) {
      const { rows } = await sql<{ id: string }>`
        SELECT u.id FROM users u
        WHERE u.erased_at IS NOT NULL AND (
          EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id)
          OR EXISTS (SELECT 1 FROM attachments att WHERE att.uploader_id = u.id)
          OR EXISTS (SELECT 1 FROM connections k WHERE k.user_id = u.id)
          OR EXISTS (SELECT 1 FROM notification_mutes nm WHERE nm.user_id = u.id)
          OR EXISTS (SELECT 1 FROM messages m WHERE m.sender_id = u.id AND (m.body <> '' OR m.attachment_id IS NOT NULL OR m.deleted_at IS NULL)))
        ORDER BY u.erased_at
        LIMIT ${limit}`.execute(db)
      return rows.map((row) => row.id)
    },

    async settleDeletions(done, failed) {
      // One statement for both outcomes; a failure never undoes a success recorded meanwhile.
      const outcomes = [...done.map((id) => ({ id, error: null })), ...failed]
      if (outcomes.length === 0) return
      await sql`
        UPDATE pending_deletions d
        SET attempts = d.attempts + 1, last_attempt_at = now(),
          done_at = CASE WHEN o.error IS NULL THEN coalesce(d.done_at, now()) ELSE d.done_at END,
          last_error = CASE WHEN o.error IS NULL THEN d.last_error ELSE o.error END
        FROM json_to_recordset(${JSON.stringify(outcomes)}::json) AS o (id uuid, error text)
        WHERE d.id = o.id`.execute(db)
    },

    async forgetConnections(connectionIds) {
      if (connectionIds.length === 0) return
      await db.deleteFrom('connections').where('connection_id', 'in', [...connectionIds]).execute()
    },
  }
}

type Time = Date | string

const ERASURE = { uniqueViolation: 'rethrow' } as const

const ErasureTargetJson = z.nullable(
  z.object({ id: z.string(), role: z.enum(ROLES), erasedAt: z.nullable(z.string()), assignedMembers: z.number() }),
)

function createErasureTransaction(trx: Kysely<Database>): ErasureTransaction {
  return {
    async load(userId) {
      const { rows } = await sql<{ user: unknown }>`
        SELECT (SELECT json_build_object('id', u.id, 'role', u.role, 'erasedAt', ${iso(sql`u.erased_at`)},
            'assignedMembers', (SELECT count(*) FROM users x WHERE x.trainer_id = u.id AND x.erased_at IS NULL))
          FROM users u WHERE u.id = ${userId}) AS user`.execute(trx)
      return ErasureTargetJson.parse(single(rows).user)
    },

    async erase(userId) {
      // A send of this user racing the erasure cannot leave a body behind: a send that commits
      // after this transaction's snapshot bumped the conversation row, which closeConversationsOf
      // then updates too, and SERIALIZABLE aborts the erasure (it runs again and sees the message);
      // a send after the close waits for its row lock and finds the conversation closed.
      // 1. Record what storage must lose, drop what only the database holds, anonymise the profile.
      //    Messages lose their attachment reference here, so the attachment rows can go next.
      const { rows } = await sql<{
        erased_at: Time
        messages_erased: number
        devices_removed: number
        deletions: PendingDeletion[]
        connection_ids: string[]
      }>`
        WITH objects AS (
          SELECT att.object_key AS target FROM attachments att WHERE att.uploader_id = ${userId}
        ),
        endpoints AS (
          DELETE FROM devices WHERE user_id = ${userId} RETURNING endpoint_arn AS target
        ),
        recorded AS (
          INSERT INTO pending_deletions (kind, target, user_id)
          SELECT 's3_object', target, ${userId}::uuid FROM objects
          UNION ALL
          SELECT DISTINCT 'push_endpoint', target, ${userId}::uuid FROM endpoints
          -- The same endpoint ARN comes back when a token is registered again; owe its deletion anew.
          ON CONFLICT (kind, target) DO UPDATE SET user_id = excluded.user_id, created_at = now(), done_at = NULL, attempts = 0,
            last_error = NULL, last_attempt_at = NULL
          RETURNING id, kind, target
        ),
        messages_erased AS (
          UPDATE messages SET body = '', attachment_id = NULL, deleted_at = coalesce(deleted_at, now())
          WHERE sender_id = ${userId}
          RETURNING 1
        ),
        mutes AS (
          DELETE FROM notification_mutes WHERE user_id = ${userId} RETURNING 1
        ),
        dropped AS (
          DELETE FROM connections WHERE user_id = ${userId} RETURNING connection_id
        ),
        profile AS (
          UPDATE users
          SET email = '', display_name = ${ERASED_DISPLAY_NAME}, erased_at = now(), disabled_at = coalesce(disabled_at, now()),
            send_tokens = NULL, send_tokens_at = NULL, updated_at = now()
          WHERE id = ${userId}
          RETURNING erased_at
        )
        SELECT p.erased_at,
          (SELECT count(*) FROM messages_erased)::int AS messages_erased,
          (SELECT count(*) FROM endpoints)::int AS devices_removed,
          (SELECT coalesce(json_agg(json_build_object('id', r.id, 'kind', r.kind, 'target', r.target)), '[]'::json) FROM recorded r) AS deletions,
          (SELECT coalesce(json_agg(d.connection_id), '[]'::json) FROM dropped d) AS connection_ids,
          (SELECT count(*) FROM mutes) AS mutes_removed
        FROM profile p`.execute(trx)
      const row = single(rows)
      // 2. The attachment rows (file names, sizes): no message points at them any more.
      const removed = await trx.deleteFrom('attachments').where('uploader_id', '=', userId).executeTakeFirst()
      // 3. What else holds their words or their traces: earlier versions of their edited messages,
      //    their reactions (in the rows of their conversations' messages), the notes of reports they
      //    filed (the reports stay, for the moderation record, pointing at the anonymised user),
      //    their last-seen time and their rate-limit buckets.
      await sql`DELETE FROM message_edits e USING messages m WHERE m.id = e.message_id AND m.sender_id = ${userId}`.execute(trx)
      await sql`
        UPDATE messages m SET reactions = coalesce((
          SELECT jsonb_agg(jsonb_build_object('emoji', x.r->'emoji', 'userIds', (x.r->'userIds') - ${userId}::text) ORDER BY x.ord)
          FROM jsonb_array_elements(m.reactions) WITH ORDINALITY AS x(r, ord)
          WHERE (x.r->'userIds') - ${userId}::text <> '[]'::jsonb
        ), '[]'::jsonb)
        WHERE m.conversation_id IN (SELECT cv.id FROM conversations cv WHERE ${userId} IN (cv.member_id, cv.trainer_id))
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(m.reactions) r WHERE r->'userIds' ? ${userId}::text)`.execute(trx)
      await sql`UPDATE reports SET note = NULL WHERE reporter_id = ${userId} AND note IS NOT NULL`.execute(trx)
      await sql`DELETE FROM user_presence WHERE user_id = ${userId}`.execute(trx)
      await sql`DELETE FROM user_limits WHERE user_id = ${userId}`.execute(trx)
      const erased: ErasedData = {
        erasedAt: toIso(row.erased_at),
        messagesErased: Number(row.messages_erased),
        attachmentsErased: Number(removed.numDeletedRows),
        devicesRemoved: Number(row.devices_removed),
        deletions: row.deletions,
        connectionIds: row.connection_ids,
      }
      return erased
    },

    async closeConversationsOf(userId, reason) {
      // The erased user's connection rows are already gone: only the other participant's are listed.
      const closed = await closeConversationsOf(trx, userId, reason)
      return closed.map(({ value, connectionIds }) => ({ conversationId: value, connectionIds }))
    },

    record: (entry) => recordAudit(trx, entry),
  }
}
