import { sql, type Kysely, type RawBuilder } from 'kysely'
import type {
  Access,
  AttachmentVerdict,
  PushTarget,
  ChatStore,
  ConnectCommand,
  ConnectResult,
  ConversationCommand,
  JoinResult,
  MarkAsReadResult,
  SendMessageCommand,
  SendMessageResult,
  Verdict,
} from '../core/ports.ts'
import type { Database } from './database-schema.ts'
import {
  connectionAccess,
  isUniqueViolation,
  listenersJson,
  messageJson,
  sendAllowance,
  single,
  toIso,
  toListeners,
  toMessage,
  type MessageJson,
  type SendRateLimit,
} from './sql-fragments.ts'

export interface ChatStoreOptions {
  /** The per-user send token bucket (config RATE_LIMIT_BURST / RATE_LIMIT_PER_SECOND). */
  sendRateLimit?: SendRateLimit
  /** How long after its upload was requested an attachment may be sent (config ATTACHMENT_USE_WITHIN_SECONDS). */
  attachmentUseWithinSeconds?: number
}

const DEFAULT_SEND_RATE_LIMIT: SendRateLimit = { burst: 20, perSecond: 1 }
const DEFAULT_ATTACHMENT_USE_WITHIN_SECONDS = 24 * 60 * 60

/**
 * The chat use cases' store on Postgres. Every method is exactly one statement (one round
 * trip): CTEs authorize the caller, act, and return who must hear about it.
 */
export function createChatStore(db: Kysely<Database>, options: ChatStoreOptions = {}): ChatStore {
  const sendRateLimit = options.sendRateLimit ?? DEFAULT_SEND_RATE_LIMIT
  const attachmentUseWithinSeconds = options.attachmentUseWithinSeconds ?? DEFAULT_ATTACHMENT_USE_WITHIN_SECONDS
  return {
    connect: (command) => connect(db, command),

    async disconnect(connectionId) {
      await db.deleteFrom('connections').where('connection_id', '=', connectionId).execute()
    },

    sendMessage: (command) => sendMessage(db, command, sendRateLimit, attachmentUseWithinSeconds),

    async typing({ connectionId, conversationId }) {
      const { rows } = await sql<AccessRow & { listeners: unknown }>`
        WITH ${connectionAccess(connectionId, conversationId)}
        SELECT a.verdict, a.user_id, ${listenersJson('other', true)} AS listeners FROM access a`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners) }))
    },

    async markAsRead({ connectionId, conversationId, messageId }) {
      const { rows } = await sql<
        AccessRow & { listeners: unknown; message_found: boolean; marked_count: number; read_at: Date | string }
      >`
        WITH ${connectionAccess(connectionId, conversationId)},
        target_message AS (
          SELECT m.seq FROM messages m JOIN access a ON m.conversation_id = a.conversation_id
          WHERE m.id = ${messageId} AND a.verdict IN ('ok', 'closed')
        ),
        marked AS (
          UPDATE messages m SET read_at = now()
          FROM access a, target_message t
          WHERE m.conversation_id = ${conversationId} AND m.sender_id <> a.user_id
            AND m.seq <= t.seq AND m.read_at IS NULL
          RETURNING m.id
        )
        SELECT a.verdict, a.user_id, ${listenersJson('both', true)} AS listeners,
          EXISTS (SELECT 1 FROM target_message) AS message_found,
          (SELECT count(*) FROM marked)::int AS marked_count,
          now() AS read_at
        FROM access a`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({
        listeners: toListeners(row.listeners),
        messageFound: row.message_found,
        markedCount: Number(row.marked_count),
        readAt: toIso(row.read_at),
      })) satisfies MarkAsReadResult
    },

    async joinConversation({ connectionId, conversationId, limit, afterSeq }) {
      // Fetch one extra row to learn whether there is more without a count.
      const page =
        afterSeq === undefined
          ? sql`ORDER BY m.seq DESC LIMIT ${limit + 1}`
          : sql`AND m.seq > ${afterSeq} ORDER BY m.seq ASC LIMIT ${limit + 1}`
      const { rows } = await sql<AccessRow & { listeners: unknown; messages: MessageJson[] }>`
        WITH ${connectionAccess(connectionId, conversationId)},
        joined AS (
          UPDATE connections k
          SET joined_conversation_ids = array_append(array_remove(k.joined_conversation_ids, a.conversation_id), a.conversation_id)
          FROM access a
          WHERE k.connection_id = ${connectionId} AND a.verdict IN ('ok', 'closed')
          RETURNING 1
        ),
        page AS (
          -- Filter on the parameter, not a join with access: only then does the planner walk the
          -- (conversation_id, seq) index and stop after limit+1 rows instead of sorting them all.
          SELECT m.* FROM messages m
          WHERE m.conversation_id = ${conversationId}
            AND EXISTS (SELECT 1 FROM access a WHERE a.verdict IN ('ok', 'closed')) ${page}
        )
        SELECT a.verdict, a.user_id, ${listenersJson('other', true)} AS listeners,
          (SELECT coalesce(json_agg(${messageJson('p')} ORDER BY p.seq), '[]'::json) FROM page p) AS messages,
          (SELECT count(*) FROM joined) AS joined
        FROM access a`.execute(db)
      const row = single(rows)
      const messages = row.messages.map(toMessage)
      const hasMore = messages.length > limit
      // Latest page: drop the oldest extra row; catch-up page (afterSeq): drop the newest.
      const trimmed = hasMore ? (afterSeq === undefined ? messages.slice(1) : messages.slice(0, limit)) : messages
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), messages: trimmed, hasMore })) satisfies JoinResult
    },

    async leaveConversation({ connectionId, conversationId }: ConversationCommand) {
      const { rows } = await sql<AccessRow & { listeners: unknown }>`
        WITH ${connectionAccess(connectionId, conversationId)},
        left_conversation AS (
          UPDATE connections k SET joined_conversation_ids = array_remove(k.joined_conversation_ids, a.conversation_id)
          FROM access a
          WHERE k.connection_id = ${connectionId} AND a.verdict IN ('ok', 'closed')
          RETURNING 1
        )
        SELECT a.verdict, a.user_id, ${listenersJson('other', true)} AS listeners,
          (SELECT count(*) FROM left_conversation) AS left_count
        FROM access a`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners) }))
    },

    async forgetConnections(connectionIds) {
      if (connectionIds.length === 0) return
      await db.deleteFrom('connections').where('connection_id', 'in', [...connectionIds]).execute()
    },
  }
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

const MAX_SEND_ATTEMPTS = 3

/**
 * One statement: authorize; find an earlier message with the same clientMessageId (a retry);
 * otherwise spend a token of the sender's rate-limit bucket (sendAllowance), bump the
 * conversation's last_seq (the row lock serializes concurrent senders, so seq is gap-free) and
 * insert; return the message and every live connection of both participants.
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
  const { rows } = await sql<
    AccessRow & { listeners: unknown; message: MessageJson | null; duplicate: boolean | null }
      & { rate_limited: boolean; send_tokens: number | null; bucket_raced: boolean | null }
      & { attachment_verdict: AttachmentVerdict; push: unknown }
  >`
    WITH ${connectionAccess(connectionId, conversationId)},
    existing AS (
      SELECT m.* FROM messages m JOIN caller c ON m.sender_id = c.user_id
      WHERE m.client_message_id = ${clientMessageId}
    ),
    ${attachmentCheck(command, attachmentUseWithinSeconds)},
    ${sendAllowance(limit, attachmentAllowed)},
    bumped AS (
      UPDATE conversations cv SET last_seq = cv.last_seq + 1, updated_at = now(), last_message_at = now()
      FROM access a
      WHERE cv.id = a.conversation_id AND a.verdict = 'ok' AND cv.status = 'open'
        AND NOT EXISTS (SELECT 1 FROM existing) AND EXISTS (SELECT 1 FROM taken) AND ${attachmentAllowed}
      RETURNING cv.id, cv.last_seq
    ),
    inserted AS (
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id, attachment_id)
      SELECT b.id, b.last_seq, a.user_id, ${body}, ${clientMessageId}, ${command.attachment?.id ?? null}::uuid
      FROM bumped b, access a
      RETURNING *
    ),
    ${claimAttachment},
    stored AS (
      SELECT i.*, false AS duplicate FROM inserted i
      UNION ALL
      SELECT e.*, true AS duplicate FROM existing e
    )
    SELECT a.verdict, a.user_id,
      (SELECT ${messageJson('s')} FROM stored s LIMIT 1) AS message,
      (SELECT s.duplicate FROM stored s LIMIT 1) AS duplicate,
      ${listenersJson('both', false)} AS listeners,
      EXISTS (SELECT 1 FROM bucket) AND NOT EXISTS (SELECT 1 FROM taken) AS rate_limited,
      (SELECT b.tokens FROM bucket b) AS send_tokens,
      (SELECT b.raced FROM bucket b) AS bucket_raced,
      (SELECT verdict FROM attachment_check) AS attachment_verdict,
      ${pushTargetJson} AS push
    FROM access a`.execute(db)
  const row = single(rows)
  const result = allowedOf(row, () => ({
    listeners: toListeners(row.listeners),
    message: row.message ? toMessage(row.message) : null,
    duplicate: row.duplicate === true,
    attachmentVerdict: row.attachment_verdict,
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
 */
async function connect(db: Kysely<Database>, command: ConnectCommand): Promise<ConnectResult> {
  const { identity, connectionId, tokenExpiresAt, maxConnectionsPerUser, initialRole } = command
  for (let attempt = 1; ; attempt++) {
    const { rows } = await sql<{ user_id: string; disabled: boolean; registered: boolean; had_room: boolean }>`
      WITH upserted AS (
        INSERT INTO users (subject, email, display_name, role)
        VALUES (${identity.subject}, ${identity.email}, ${identity.displayName}, ${initialRole})
        ON CONFLICT (subject) DO UPDATE SET email = excluded.email, display_name = excluded.display_name, updated_at = now()
          WHERE users.email IS DISTINCT FROM excluded.email OR users.display_name IS DISTINCT FROM excluded.display_name
        RETURNING id, disabled_at
      ),
      me AS (
        SELECT id, disabled_at FROM upserted
        UNION ALL
        SELECT id, disabled_at FROM users WHERE subject = ${identity.subject} AND NOT EXISTS (SELECT 1 FROM upserted)
      ),
      live AS (
        SELECT k.slot FROM connections k JOIN me ON k.user_id = me.id WHERE k.expires_at > now()
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
          WHERE connections.expires_at <= now()
        RETURNING connection_id
      )
      SELECT me.id AS user_id, me.disabled_at IS NOT NULL AS disabled, EXISTS (SELECT 1 FROM registered) AS registered,
        EXISTS (SELECT 1 FROM free_slot) AS had_room
      FROM me`.execute(db)
    const row = rows[0]
    // Empty when a concurrent first contact created the user after our snapshot; not registered
    // despite a free slot when a concurrent connect took that slot first: run again.
    const raced = !row || (!row.disabled && !row.registered && row.had_room)
    if (raced) {
      if (attempt >= maxConnectionsPerUser + 2) throw new Error('could not register the connection')
      continue
    }
    if (row.disabled) return { outcome: 'disabled', userId: row.user_id }
    if (!row.registered) return { outcome: 'too_many_connections', userId: row.user_id }
    return { outcome: 'connected', userId: row.user_id }
  }
}

// ---- The attachment and push parts of the send statement (used by it alone) ----

/**
 * CTE `attachment_check (verdict)`: may the caller send this attachment here? It must exist,
 * have been requested by the caller for this conversation, be unused, still be inside its use
 * window, and storage (asked with HeadObject before the statement) must hold an object of the
 * declared type and size. `none` when the command carries no attachment.
 */
function attachmentCheck(command: SendMessageCommand, useWithinSeconds: number): RawBuilder<unknown> {
  const attachmentId = command.attachment?.id ?? null
  const object = command.attachment?.object ?? null
  return sql`
    attachment_check AS (
      SELECT CASE
        WHEN ${attachmentId}::uuid IS NULL THEN 'none'
        WHEN att.id IS NULL THEN 'not_found'
        WHEN att.conversation_id IS DISTINCT FROM a.conversation_id OR att.uploader_id IS DISTINCT FROM a.user_id THEN 'forbidden'
        WHEN att.message_id IS NOT NULL THEN 'used'
        WHEN att.created_at < now() - ${useWithinSeconds}::int * interval '1 second' THEN 'expired'
        WHEN ${object?.size ?? null}::int IS NULL THEN 'not_uploaded'
        WHEN ${object?.contentType ?? null}::text IS DISTINCT FROM att.content_type THEN 'type_mismatch'
        WHEN ${object?.size ?? null}::int <> att.size THEN 'size_mismatch'
        ELSE 'ok'
      END AS verdict
      FROM access a LEFT JOIN attachments att ON att.id = ${attachmentId}::uuid
    )`
}

/** Condition for the seq bump: the attachment, if any, passed its check. */
const attachmentAllowed = sql`(SELECT verdict FROM attachment_check) IN ('none', 'ok')`

/**
 * CTE `claimed`: marks the attachment used by the inserted message (from CTE `inserted`). Two
 * sends racing with one attachment are stopped by the unique index on messages.attachment_id.
 */
const claimAttachment = sql`
    claimed AS (
      UPDATE attachments att SET message_id = i.id
      FROM inserted i
      WHERE att.id = i.attachment_id AND att.message_id IS NULL
      RETURNING att.id
    )`

/**
 * Scalar JSON (a PushTarget, or NULL): computed only for a newly inserted message whose
 * recipient has no live connection, is not disabled, has not muted notifications (all or this
 * conversation) and has at least one enabled device. The badge is the recipient's unread
 * messages in every conversation they take part in (their unread_counters row), plus the one
 * being inserted (not yet visible to the statement's own snapshot).
 */
const pushTargetJson = sql`(
      SELECT json_build_object(
        'recipientId', r.id,
        'senderName', s.display_name,
        -- The counter (migration 0013, kept by triggers on messages) in constant time; + 1 for
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
    )`

function toPushTarget(json: unknown): PushTarget | null {
  if (json === null || json === undefined) return null
  const target = json as PushTarget
  return { ...target, unreadCount: Number(target.unreadCount) }
}
