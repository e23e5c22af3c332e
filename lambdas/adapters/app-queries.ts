import { sql, type Kysely, type RawBuilder } from 'kysely'
import * as z from 'zod/mini'
import { initialRole, type ConversationSummary, type Identity, type StoredMessage, type User } from '../core/model.ts'
import type { ConversationAudience, Verdict } from '../core/ports.ts'
import type { Database } from './database-schema.ts'
import { liveConnection, messageJson, participantAccess, presenceAudiences, toIso, toMessage, type MessageJson } from './sql-fragments.ts'
import { callerFromIdentity, withCaller } from './users-upsert.ts'

/**
 * Queries behind the apps' REST routes. Each is one statement that starts by resolving the
 * caller (creating the user on first contact), so the database role decides what they see.
 */

/** A conversation summary whose last message's attachment is not yet signed for the reader. */
export type StoredConversationSummary = Omit<ConversationSummary, 'lastMessage'> & { lastMessage: StoredMessage | null }

export interface MessagePage {
  verdict: Verdict
  messages: StoredMessage[]
  hasMore: boolean
}

/** What PUT /me/presence changed, and who must hear about it. */
export interface PresenceChange {
  userId: string
  changed: boolean
  /** The other participants' live connections, when the change is visible to them (the caller is connected). */
  audiences: ConversationAudience[]
}

const MAX_CONVERSATIONS = 500

/** presenceAudiences' JSON (sql-fragments.ts); NULL when nothing changed. */
const AudiencesJson = z.nullable(z.array(z.object({ conversationId: z.string(), connectionIds: z.array(z.string()) })))

export function createAppQueries(db: Kysely<Database>) {
  return {
    async health(): Promise<boolean> {
      try {
        await sql`SELECT 1`.execute(db)
        return true
      } catch {
        return false
      }
    },

    /** The caller's user row; null only if the account is disabled. */
    async me(identity: Identity): Promise<User | null> {
      const row = await withCaller(db, identity)
        .selectFrom('caller')
        .select(['user_id', 'email', 'display_name', 'role', 'trainer_id', 'disabled_at'])
        .executeTakeFirst()
      if (!row || row.disabled_at) return null
      return { id: row.user_id, email: row.email, displayName: row.display_name, role: row.role, trainerId: row.trainer_id }
    },

    /** The conversations the caller may use, most recent activity first, with last message and unread count. */
    async conversations(identity: Identity): Promise<StoredConversationSummary[]> {
      const { rows } = await sql<{
        id: string
        member_id: string
        trainer_id: string
        status: ConversationSummary['status']
        updated_at: Date | string
        last_message: MessageJson | null
        unread_count: number
        online: boolean
        last_seen_at: Date | string | null
      }>`
        WITH ${callerFromIdentity(identity)}
        SELECT cv.id, cv.member_id, cv.trainer_id, cv.status, cv.updated_at,
          -- Presence (#13): the other participant, unless they turned sharing off (PUT /me/presence).
          other.online, CASE WHEN other.presence_visible AND NOT other.online THEN other.last_seen_at END AS last_seen_at,
          (SELECT ${messageJson('m')} FROM messages m WHERE m.conversation_id = cv.id AND m.seq = cv.last_seq) AS last_message,
          (SELECT count(*) FROM messages u
            WHERE u.conversation_id = cv.id AND u.sender_id <> c.user_id AND u.read_at IS NULL AND u.hidden_at IS NULL AND u.deleted_at IS NULL)::int AS unread_count
        FROM caller c
        JOIN conversations cv ON
          (c.role = 'user' AND cv.member_id = c.user_id AND cv.trainer_id = c.trainer_id)
          OR (c.role = 'trainer' AND cv.trainer_id = c.user_id
              AND EXISTS (SELECT 1 FROM users member WHERE member.id = cv.member_id AND member.trainer_id = c.user_id))
        CROSS JOIN LATERAL (
          SELECT o.presence_visible, p.last_seen_at,
            o.presence_visible AND EXISTS (SELECT 1 FROM connections k WHERE k.user_id = o.id AND ${liveConnection('k')}) AS online
          FROM users o LEFT JOIN user_presence p ON p.user_id = o.id
          WHERE o.id = CASE WHEN cv.member_id = c.user_id THEN cv.trainer_id ELSE cv.member_id END
        ) other
        WHERE c.disabled_at IS NULL
        ORDER BY cv.updated_at DESC, cv.id DESC
        LIMIT ${MAX_CONVERSATIONS}`.execute(db)
      return rows.map((row) => ({
        id: row.id,
        userId: row.member_id,
        trainerId: row.trainer_id,
        status: row.status,
        lastMessage: row.last_message ? toMessage(row.last_message) : null,
        unreadCount: Number(row.unread_count),
        updatedAt: toIso(row.updated_at),
        online: row.online,
        lastSeenAt: row.last_seen_at === null ? null : toIso(row.last_seen_at),
      }))
    },

    /**
     * PUT /me/presence: shares or hides the caller's presence. One statement; when it changed and
     * the caller has a live connection, it also returns the other participants' live connections,
     * which hear the caller come online (shared again) or go offline (hidden). null: disabled.
     */
    async setPresence(identity: Identity, visible: boolean): Promise<PresenceChange | null> {
      const { rows } = await sql<{ user_id: string; disabled: boolean; changed: boolean; audiences: unknown }>`
        WITH ${callerFromIdentity(identity)},
        updated AS (
          UPDATE users u SET presence_visible = ${visible}, updated_at = now()
          FROM caller c
          WHERE u.id = c.user_id AND c.disabled_at IS NULL AND u.presence_visible IS DISTINCT FROM ${visible}
          RETURNING u.id, u.role, u.trainer_id
        )
        SELECT c.user_id, c.disabled_at IS NOT NULL AS disabled, EXISTS (SELECT 1 FROM updated) AS changed,
          (SELECT CASE WHEN EXISTS (SELECT 1 FROM connections k WHERE k.user_id = up.id AND ${liveConnection('k')})
             THEN ${presenceAudiences('up')} ELSE '[]'::json END FROM updated up) AS audiences
        FROM caller c`.execute(db)
      const row = rows[0]
      if (!row || row.disabled) return null
      return {
        userId: row.user_id,
        changed: row.changed,
        audiences: (AudiencesJson.parse(row.audiences) ?? []).filter((audience) => audience.connectionIds.length > 0),
      }
    },

    /** A page of history older than `before` (a seq), newest page first, returned oldest first. */
    async messages(
      identity: Identity,
      conversationId: string,
      page: { before?: number | undefined; limit: number },
    ): Promise<MessagePage> {
      const before = page.before === undefined ? sql`` : sql`AND m.seq < ${page.before}`
      const { rows } = await sql<{ verdict: Verdict; messages: MessageJson[] }>`
        WITH ${callerFromIdentity(identity)}, ${participantAccess(conversationId)}
        SELECT a.verdict,
          (SELECT coalesce(json_agg(${messageJson('p')} ORDER BY p.seq), '[]'::json)
           FROM (
             SELECT m.* FROM messages m
             WHERE m.conversation_id = a.conversation_id AND a.verdict IN ('ok', 'closed') ${before}
             ORDER BY m.seq DESC LIMIT ${page.limit + 1}
           ) p) AS messages
        FROM access a`.execute(db)
      const row = rows[0]
      if (!row) throw new Error('expected one row')
      const messages = row.messages.map(toMessage)
      const hasMore = messages.length > page.limit
      return { verdict: row.verdict, messages: hasMore ? messages.slice(1) : messages, hasMore }
    },
  }
}

