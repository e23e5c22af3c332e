import { sql, type Kysely } from 'kysely'
import type { AttachmentStore, Verdict } from '../core/ports.ts'
import type { Database } from './database-schema.ts'
import { participantAccess, single } from './sql-fragments.ts'
import { callerFromIdentity } from './users-upsert.ts'

/**
 * Attachment rows on Postgres. Using an attachment (checking and claiming it) happens inside the
 * send statement (chat-store.ts); this is the upload request and the sweep of unused ones.
 */
export function createAttachmentStore(db: Kysely<Database>): AttachmentStore {
  return {
    /** One statement: the caller must be able to write to the conversation; then the row is recorded. */
    async create(identity, attachment) {
      const { rows } = await sql<{ verdict: Verdict }>`
        WITH ${callerFromIdentity(identity)}, ${participantAccess(attachment.conversationId)},
        created AS (
          INSERT INTO attachments (id, conversation_id, uploader_id, object_key, file_name, content_type, size)
          SELECT ${attachment.id}, a.conversation_id, a.user_id, ${attachment.key}, ${attachment.fileName},
            ${attachment.contentType}, ${attachment.size}
          FROM access a WHERE a.verdict = 'ok'
          RETURNING id
        )
        SELECT a.verdict, (SELECT count(*) FROM created) AS created FROM access a`.execute(db)
      return single(rows).verdict
    },

    async unused(olderThanSeconds, limit) {
      const rows = await db
        .selectFrom('attachments')
        .select(['id', 'object_key'])
        .where('message_id', 'is', null)
        .where('created_at', '<', sql<Date>`now() - ${olderThanSeconds}::int * interval '1 second'`)
        .orderBy('created_at')
        .limit(limit)
        .execute()
      return rows.map((row) => ({ id: row.id, key: row.object_key }))
    },

    async forget(ids) {
      if (ids.length === 0) return 0
      // Still unused: a message may have claimed one since (then it stays).
      const result = await db.deleteFrom('attachments').where('id', 'in', [...ids]).where('message_id', 'is', null).executeTakeFirst()
      return Number(result.numDeletedRows)
    },
  }
}
