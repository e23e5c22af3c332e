import type { ColumnType, Generated, Selectable } from 'kysely'
import type { ConversationStatus, Role } from '../core/model.ts'

/** Kysely's view of the tables (snake_case, as stored). Rows are mapped to domain objects in the repositories. */

type Timestamp = ColumnType<Date, Date | string, Date | string>
type CreatedAt = ColumnType<Date, Date | string | undefined, never>

export interface UsersTable {
  id: Generated<string>
  subject: string
  email: string
  display_name: string
  role: ColumnType<Role, Role | undefined, Role>
  trainer_id: string | null
  disabled_at: Timestamp | null
  created_at: CreatedAt
  updated_at: Generated<Timestamp>
  /** Send rate-limit bucket (0003): tokens left at send_tokens_at; NULL is a full bucket. */
  send_tokens: number | null
  send_tokens_at: Timestamp | null
}

export interface ConversationsTable {
  id: Generated<string>
  member_id: string
  trainer_id: string
  status: ColumnType<ConversationStatus, ConversationStatus | undefined, ConversationStatus>
  closed_reason: string | null
  closed_at: Timestamp | null
  last_seq: Generated<number>
  last_message_at: Timestamp | null
  created_at: CreatedAt
  updated_at: Generated<Timestamp>
}

export interface MessagesTable {
  id: Generated<string>
  conversation_id: string
  seq: number
  sender_id: string
  body: string
  attachment_id: string | null
  client_message_id: string
  created_at: CreatedAt
  read_at: Timestamp | null
  hidden_at: Timestamp | null
  hidden_by: string | null
  hidden_reason: string | null
  /** Set by editMessage (0006). */
  edited_at: Timestamp | null
  /** Set by deleteMessage (0006): participants see an empty body and no attachment. */
  deleted_at: Timestamp | null
  /** The message of the same conversation this one answers (0006). */
  reply_to_id: string | null
}

export interface ConnectionsTable {
  connection_id: string
  user_id: string
  connected_at: CreatedAt
  expires_at: Timestamp
  joined_conversation_ids: ColumnType<string[], string[] | undefined, string[]>
  /** Which of the user's MAX_CONNECTIONS_PER_USER slots the connection holds (0003); NULL on older rows. */
  slot: number | null
}

export interface AuditLogTable {
  id: Generated<string>
  actor_id: string
  action: string
  target_type: string
  target_id: string
  reason: string | null
  details: ColumnType<Record<string, unknown>, string | undefined, string>
  created_at: CreatedAt
}

export interface AttachmentsTable {
  id: string
  conversation_id: string
  uploader_id: string
  object_key: string
  file_name: string
  content_type: string
  size: number
  created_at: CreatedAt
  message_id: string | null
}

export interface DevicesTable {
  token: string
  user_id: string
  platform: 'ios' | 'android'
  endpoint_arn: string
  enabled: Generated<boolean>
  created_at: CreatedAt
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export interface NotificationMutesTable {
  user_id: string
  conversation_id: string | null
  created_at: CreatedAt
}

/** Per user, their unread messages over all their conversations (0013), kept by triggers on messages. */
export interface UnreadCountersTable {
  user_id: string
  unread: Generated<number>
}

export interface Database {
  users: UsersTable
  conversations: ConversationsTable
  messages: MessagesTable
  connections: ConnectionsTable
  audit_log: AuditLogTable
  attachments: AttachmentsTable
  devices: DevicesTable
  notification_mutes: NotificationMutesTable
  unread_counters: UnreadCountersTable
}

export type UserRow = Selectable<UsersTable>
export type MessageRow = Selectable<MessagesTable>
