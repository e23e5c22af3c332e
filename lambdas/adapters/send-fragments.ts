import { sql, type RawBuilder } from 'kysely'
import type { PushTarget, SendMessageCommand } from '../core/ports.ts'

/**
 * The attachment and push parts of the send statement (chat-store.ts), kept here so that
 * statement reads as the chat rule it is. Each piece expects the `access` CTE of
 * sql-fragments.ts (alias `a` where noted) and keeps the whole send one round trip.
 */

/**
 * CTE `attachment_check (verdict)`: may the caller send this attachment here? It must exist,
 * have been requested by the caller for this conversation, be unused, still be inside its use
 * window, and storage (asked with HeadObject before the statement) must hold an object of the
 * declared type and size. `none` when the command carries no attachment.
 */
export function attachmentCheck(command: SendMessageCommand, useWithinSeconds: number): RawBuilder<unknown> {
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
export const attachmentAllowed = sql`(SELECT verdict FROM attachment_check) IN ('none', 'ok')`

/**
 * CTE `claimed`: marks the attachment used by the inserted message (from CTE `inserted`). Two
 * sends racing with one attachment are stopped by the unique index on messages.attachment_id.
 */
export const claimAttachment = sql`
    claimed AS (
      UPDATE attachments att SET message_id = i.id
      FROM inserted i
      WHERE att.id = i.attachment_id AND att.message_id IS NULL
      RETURNING att.id
    )`

/**
 * Scalar JSON (a PushTarget, or NULL): computed only for a newly inserted message whose
 * recipient has no live connection, is not disabled, has not muted notifications (all or this
 * conversation) and has at least one enabled device. The badge counts the recipient's unread
 * messages in every conversation they take part in, plus the one being inserted (not yet
 * visible to the statement's own snapshot).
 */
export const pushTargetJson = sql`(
      SELECT json_build_object(
        'recipientId', r.id,
        'senderName', s.display_name,
        'unreadCount', 1 + (
          SELECT count(*) FROM messages um JOIN conversations uc ON uc.id = um.conversation_id
          WHERE (uc.member_id = r.id OR uc.trainer_id = r.id) AND um.sender_id <> r.id
            AND um.read_at IS NULL AND um.hidden_at IS NULL),
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

export function toPushTarget(json: unknown): PushTarget | null {
  if (json === null || json === undefined) return null
  const target = json as PushTarget
  return { ...target, unreadCount: Number(target.unreadCount) }
}
