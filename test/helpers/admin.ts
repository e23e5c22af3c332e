import { sql } from 'kysely'
import type { TestStack } from './stack.ts'

/** Helpers for the admin API's end-to-end tests. */

export const ADMIN = 'admin@example.com'

/**
 * Every row the routes manage (users, conversations, messages and their edits, audit, reports,
 * attachments, devices, mutes), as one comparable value. Connection rows are
 * left out: WebSockets the tests close leave at their own pace; the tests that expect connections
 * to be dropped or kept check them directly.
 */
export async function databaseSnapshot(stack: TestStack): Promise<unknown> {
  const { rows } = await sql<{ snapshot: unknown }>`
    SELECT json_build_object(
      'users', (SELECT json_agg(u ORDER BY u.id) FROM users u),
      'conversations', (SELECT json_agg(c ORDER BY c.id) FROM conversations c),
      'messages', (SELECT json_agg(m ORDER BY m.id) FROM messages m),
      'audit', (SELECT json_agg(a ORDER BY a.id) FROM audit_log a),
      'reports', (SELECT json_agg(r ORDER BY r.id) FROM reports r),
      'edits', (SELECT json_agg(e ORDER BY e.id) FROM message_edits e),
      'attachments', (SELECT json_agg(a ORDER BY a.id) FROM attachments a),
      'devices', (SELECT json_agg(d ORDER BY d.token) FROM devices d),
      'mutes', (SELECT json_agg(n ORDER BY n.user_id, n.conversation_id) FROM notification_mutes n)
    ) AS snapshot`.execute(stack.db)
  return rows[0]?.snapshot
}

/** The user id for an email, creating the user through the API on first use (as an app would). */
export async function userId(stack: TestStack, email: string): Promise<string> {
  const me = await stack.api('/me', { email })
  if (me.status !== 200) throw new Error(`GET /me for ${email} answered ${me.status}`)
  return me.body.id as string
}

/** The open conversation of a member with a trainer. */
export async function openConversationId(stack: TestStack, memberId: string, trainerId: string): Promise<string> {
  const row = await stack.db
    .selectFrom('conversations')
    .where('member_id', '=', memberId)
    .where('trainer_id', '=', trainerId)
    .where('status', '=', 'open')
    .select('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export async function auditRows(stack: TestStack) {
  return stack.db.selectFrom('audit_log').selectAll().orderBy('created_at').orderBy('id').execute()
}
