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
import { ATTACHMENT_URL_BYTES_PER_NAME_BYTE, ATTACHMENT_URL_RESERVE_BYTES, HISTORY_STATEMENT_BUDGET_BYTES } from '../core/chat.ts'
import { DEFAULT_LIMITS, type Listener, type Reaction } from '../core/model.ts'
import type { Database } from './database-schema.ts'
import { isEmailTaken } from './users-upsert.ts'
import { MAX_CONNECTION_SECONDS, isUniqueViolation, single, toIso, toMessage, type MessageJson } from './sql-fragments.ts'

/**
 * Every statement below is a call of a plpgsql function whose body, the whole statement, is in a
 * migration: trainer_chat_send_message in migrations/0016_send_message_in_steps.ts, the others
 * in migrations/0015_websocket_statement_functions.ts (test/sql/*.sql shows each call as sent).
 * Sent as ad hoc SQL, these CTE statements were planned on every call, and planning took longer
 * than running them; a prepared statement would keep the plan but holds session state, which pins
 * the Lambda to one backend behind RDS Proxy. A plpgsql function's plans are cached by the backend
 * for every client, so each action stays one plain statement, one round trip, and RDS Proxy keeps
 * multiplexing. The rules' values (limits, byte budgets, lifetimes) are passed as parameters, so
 * they still live here and in core/.
 */

/** A token bucket's sizes. */
export interface SendRateLimit {
  /** Bucket size: how many actions may be taken at once after a quiet spell. */
  burst: number
  /** Sustained rate: tokens added per second. */
  perSecond: number
}

/** A per-user limit's sizes (its kind, a user_limits row, is fixed by the action's function). */
export type UserLimitRate = SendRateLimit

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

/**
 * The chat use cases' store on Postgres. Every method is exactly one statement (one round
 * trip), a call of its function: it authorizes the caller, acts, and returns who must hear about it.
 */
export function createChatStore(db: Kysely<Database>, options: ChatStoreOptions = {}): ChatStore {
  const sendRateLimit = options.sendRateLimit ?? DEFAULT_LIMITS.send
  const attachmentUseWithinSeconds = options.attachmentUseWithinSeconds ?? DEFAULT_LIMITS.attachmentUseWithinSeconds
  const typingLimit = options.typingLimit ?? DEFAULT_LIMITS.typing
  const joinLimit = options.joinLimit ?? DEFAULT_LIMITS.join
  const readLimit = options.readLimit ?? DEFAULT_LIMITS.markAsRead
  return {
    connect: (command) => connect(db, command),

    disconnect: (connectionId) => forgetConnections(db, [connectionId]),

    sendMessage: (command) => sendMessage(db, command, sendRateLimit, attachmentUseWithinSeconds),

    async typing({ connectionId, conversationId }) {
      // Per-user limit (#11 item 13): without a token, no listeners are returned, so nothing is relayed.
      const { rows } = await sql<AccessRow & LimitedRow & { listeners: unknown }>`
        SELECT * FROM trainer_chat_typing(${connectionId}::text, ${conversationId}::uuid, ${bucket(typingLimit)})`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), ...limitedOf(row) })) satisfies LimitedListenersResult
    },

    async markAsRead({ connectionId, conversationId, messageId }) {
      // Marks every message of the other participant up to messageId read. Per-user limit (#11
      // item 13): the bucket gates the update; refused, nothing is marked.
      const { rows } = await sql<
        AccessRow & LimitedRow & { listeners: unknown; message_found: boolean; marked_count: number; read_at: Date | string }
      >`
        SELECT * FROM trainer_chat_mark_as_read(${connectionId}::text, ${conversationId}::uuid, ${messageId}::uuid, ${bucket(readLimit)})`.execute(db)
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
      // Subscribes the connection and returns the newest page (or the page after afterSeq), bounded
      // by `limit` and by the statement's byte budget; one extra row fetched says whether there is
      // more without a count. Per-user limit (#11 item 13), shared with leaveConversation: a refused
      // join neither subscribes, nor reads, nor tells anyone.
      const { rows } = await sql<AccessRow & LimitedRow & { listeners: unknown; messages: MessageJson[]; fetched: number | string }>`
        SELECT * FROM trainer_chat_join_conversation(${connectionId}::text, ${conversationId}::uuid, ${limit}::int, ${afterSeq ?? null}::int,
          ${bucket(joinLimit)},
          ${HISTORY_STATEMENT_BUDGET_BYTES}::int, ${ATTACHMENT_URL_RESERVE_BYTES}::int, ${ATTACHMENT_URL_BYTES_PER_NAME_BYTE}::int)`.execute(db)
      const row = single(rows)
      const messages = row.messages.map(toMessage)
      // More when the extra row came back, or when the byte budget ended the page early.
      const hasMore = Number(row.fetched ?? 0) > messages.length
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), messages, hasMore, ...limitedOf(row) })) satisfies JoinResult
    },

    async leaveConversation({ connectionId, conversationId }: ConversationCommand) {
      // Per-user limit shared with joinConversation (#11 item 13): refused, the connection stays joined.
      const { rows } = await sql<AccessRow & LimitedRow & { listeners: unknown }>`
        SELECT * FROM trainer_chat_leave_conversation(${connectionId}::text, ${conversationId}::uuid, ${bucket(joinLimit)})`.execute(db)
      const row = single(rows)
      return allowedOf(row, () => ({ listeners: toListeners(row.listeners), ...limitedOf(row) })) satisfies LimitedListenersResult
    },

    editMessage: (command) => editMessage(db, command),
    deleteMessage: (command) => deleteMessage(db, command),
    react: (command) => react(db, command),

    forgetConnections: (connectionIds, options) => forgetConnections(db, connectionIds, options),
  }
}

/** A per-user bucket's two parameters (p_burst, p_per_second). */
function bucket(limit: UserLimitRate): RawBuilder<unknown> {
  return sql`${limit.burst}::float8, ${limit.perSecond}::float8`
}

interface LimitedRow {
  /** The caller was a participant, but the bucket had no whole token. */
  limited: boolean
  retry_after_ms: number | null
}

function limitedOf(row: LimitedRow): { retryAfterMs?: number } {
  return row.limited ? { retryAfterMs: Math.max(1, Number(row.retry_after_ms ?? 1)) } : {}
}

function toListeners(json: unknown): Listener[] {
  return (json ?? []) as Listener[]
}

/** Longer than any $connect can run (API Gateway's integration timeout is 29 s). */
const CONNECT_GRACE_SECONDS = 30

/**
 * One statement, trainer_chat_forget_connections: delete connection rows ($disconnect, or API
 * Gateway reported them gone) and report what that means for the other participants:
 * - a user left without any live connection gets a `user_presence.last_seen_at` and, if they share presence, is
 *   reported `offline` with the other participant's live connections of each conversation;
 * - a conversation the user no longer has a joined connection in is reported `left`, with the
 *   other participant's joined connections (userLeft).
 * The statement's snapshot still holds the rows it deletes, so every read leaves them out. Two
 * last connections of one user deleted at the same instant by two statements each see the other
 * still there, and neither reports the user offline: GET /conversations, which reads the rows,
 * still shows the truth, and the next connection or disconnect of that user corrects the frames.
 *
 * API Gateway answers 410 for a connection still inside its own $connect, whose row the connect
 * statement has already written. A fan-out's 410 (`establishedOnly`) therefore only proves a
 * connection gone once it is past $connect: it has joined a conversation, or it is older than
 * CONNECT_GRACE_SECONDS. Younger rows stay; the next 410 or their $disconnect removes them.
 */
export async function forgetConnections(
  db: Kysely<Database>,
  connectionIds: readonly string[],
  options: ForgetOptions = {},
): Promise<Departures> {
  if (connectionIds.length === 0) return { offline: [], left: [] }
  const { rows } = await sql<{ offline: Departures['offline']; left: Departures['left'] }>`
    SELECT * FROM trainer_chat_forget_connections(${[...connectionIds]}::text[], ${options.establishedOnly === true}::boolean,
      ${CONNECT_GRACE_SECONDS}::int, ${MAX_CONNECTION_SECONDS}::int)`.execute(db)
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
  /** How the message stands towards the caller, read in the statement's snapshot; the action's UPDATE re-checks the latest row. */
  message_verdict: MessageVerdict
  listeners: unknown
}

/**
 * One statement, trainer_chat_edit_message: authorize; check the message is the caller's, visible
 * and inside the edit window; lock it and archive the body it has (message_edits); write the new
 * body; return the message and the joined connections of both participants.
 *
 * The row lock is taken with SELECT … FOR UPDATE, which (READ COMMITTED) waits for a racing edit
 * or delete and then reads the row's latest committed version, re-checking that it is still
 * undeleted and unhidden: the body archived is the one being replaced, so two racing edits lose no
 * version. A conversation closed while this runs does not stop it: the edit read `open` in a
 * snapshot taken before the close committed, so it is ordered before the close.
 */
async function editMessage(db: Kysely<Database>, command: EditMessageCommand): Promise<EditMessageResult> {
  const { connectionId, conversationId, messageId, body, editWindowSeconds } = command
  const { rows } = await sql<MessageActionRow & { message: MessageJson | null }>`
    SELECT * FROM trainer_chat_edit_message(${connectionId}::text, ${conversationId}::uuid, ${messageId}::uuid, ${body}::text,
      ${editWindowSeconds}::int)`.execute(db)
  const row = single(rows)
  return allowedOf(row, () => ({
    messageVerdict: row.message_verdict,
    message: row.message ? toMessage(row.message) : null,
    listeners: toListeners(row.listeners),
  }))
}

/**
 * One statement, trainer_chat_delete_message: authorize; check the message is the caller's; set
 * deleted_at (the row and its seq stay; body, attachment and reactions are withheld from
 * participants by the message JSON, kept for admins); return the joined connections of both
 * participants. Deleting a deleted message changes nothing (`deleted` false), so a retried delete
 * is harmless.
 */
async function deleteMessage(db: Kysely<Database>, command: MessageCommand): Promise<DeleteMessageResult> {
  const { connectionId, conversationId, messageId } = command
  const { rows } = await sql<MessageActionRow & { deleted: boolean }>`
    SELECT * FROM trainer_chat_delete_message(${connectionId}::text, ${conversationId}::uuid, ${messageId}::uuid)`.execute(db)
  const row = single(rows)
  return allowedOf(row, () => ({
    messageVerdict: row.message_verdict,
    deleted: row.deleted,
    listeners: toListeners(row.listeners),
  }))
}

/**
 * One statement, trainer_chat_react: authorize; check the message is visible; add or take back the
 * caller's reaction in messages.reactions ([{emoji, userIds}]) only when that changes it; return
 * the reactions and the joined connections of both participants.
 *
 * The new list is computed by the UPDATE from the row it locks: when two reactions race, the
 * second waits for the first's lock and READ COMMITTED re-evaluates its SET and WHERE on the row
 * the first wrote, so neither is lost, nobody holds one emoji twice, and the list each returns is
 * the row as it committed.
 */
async function react(db: Kysely<Database>, command: ReactCommand): Promise<ReactResult> {
  const { connectionId, conversationId, messageId } = command
  const { rows } = await sql<MessageActionRow & { changed: boolean; reactions: Reaction[] | null }>`
    SELECT * FROM trainer_chat_react(${connectionId}::text, ${conversationId}::uuid, ${messageId}::uuid, ${command.emoji}::text,
      ${command.on}::boolean)`.execute(db)
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
 * One statement, the function trainer_chat_send_message (migration 0016, in steps): authorize; find an
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
      return await sendMessageOnce(db, command, limit, attachmentUseWithinSeconds)
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
): Promise<SendMessageResult> {
  const { connectionId, conversationId, clientMessageId, body } = command
  const object = command.attachment?.object
  // Sent as ad hoc SQL, the send statement spent 7 ms planning around 2 ms of work (see the top of this file).
  const { rows } = await sql<
    AccessRow & { listeners: unknown; message: MessageJson | null; duplicate: boolean | null }
      & { rate_limited: boolean; send_tokens: number | null }
      & { attachment_verdict: AttachmentVerdict; push: unknown; reply_found: boolean }
  >`
    -- The body: migrations/0016_send_message_in_steps.ts
    SELECT * FROM trainer_chat_send_message(${connectionId}::text, ${conversationId}::uuid, ${clientMessageId}::text, ${body}::text,
      ${command.attachment?.id ?? null}::uuid, ${object?.contentType ?? null}::text, ${object?.size ?? null}::int, ${attachmentUseWithinSeconds}::int,
      ${command.replyToId ?? null}::uuid,
      ${limit.burst}::float8, ${limit.perSecond}::float8)`.execute(db)
  const row = single(rows)
  return allowedOf(row, () => ({
    listeners: toListeners(row.listeners),
    message: row.message ? toMessage(row.message) : null,
    duplicate: row.duplicate === true,
    attachmentVerdict: row.attachment_verdict,
    replyFound: row.reply_found !== false,
    push: toPushTarget(row.push),
    ...(row.rate_limited ? { retryAfterMs: retryAfterMs(Number(row.send_tokens ?? 0), limit) } : {}),
  }))
}

/** How long until the bucket holds one whole token again. */
function retryAfterMs(tokens: number, limit: SendRateLimit): number {
  return Math.max(1, Math.ceil(((1 - tokens) / limit.perSecond) * 1000))
}

/**
 * One statement, trainer_chat_connect: create the user on first contact (keeping email and display name current,
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
      // The users upsert in the function is users-upsert.ts's, which the REST statements compose.
      ;({ rows } = await sql<ConnectRow>`
        SELECT * FROM trainer_chat_connect(${connectionId}::text, ${identity.subject}::text, ${identity.email}::text,
          ${identity.displayName}::text, ${initialRole}::text, ${tokenExpiresAt.toISOString()}::timestamptz,
          ${maxConnectionsPerUser}::int, ${MAX_CONNECTION_SECONDS}::int, ${STALE_PROBE_COUNT}::int)`.execute(db))
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
