import type { ColumnType, Generated, Selectable } from 'kysely'
import type { ConversationStatus, Reaction, Role } from '../core/model.ts'

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
  /** Set when an admin erased the account (0010); the row is then disabled for good. */
  erased_at: Timestamp | null
  /** Whether `email` came from a token with email_verified (0011); verified emails are unique, case-insensitively. */
  email_verified: Generated<boolean>
  /** PUT /me/presence (0008): false shows the user offline, with no last-seen time. */
  presence_visible: Generated<boolean>
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
  /** [{emoji, userIds}] as clients see them (0007), changed only by the react statement. */
  reactions: ColumnType<Reaction[], string | undefined, string>
}

/** Earlier versions of edited messages (0007): the body a message had until edited_at. */
export interface MessageEditsTable {
  id: Generated<string>
  message_id: string
  body: string
  edited_at: Generated<Timestamp>
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

/** S3 objects and SNS endpoints an erasure still has to delete (0010). */
export interface PendingDeletionsTable {
  id: Generated<string>
  kind: 's3_object' | 'push_endpoint'
  target: string
  user_id: string
  created_at: CreatedAt
  attempts: Generated<number>
  last_attempt_at: Timestamp | null
  last_error: string | null
  done_at: Timestamp | null
}

/** Per-user token buckets of typing, join/leave and markAsRead (0008), one row per user and kind. */
export interface UserLimitsTable {
  user_id: string
  kind: string
  tokens: number
  at: Timestamp
}

/** When each user's last live connection went away (0008). */
export interface UserPresenceTable {
  user_id: string
  last_seen_at: Timestamp
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
  pending_deletions: PendingDeletionsTable
  message_edits: MessageEditsTable
  user_limits: UserLimitsTable
  user_presence: UserPresenceTable
}

export type UserRow = Selectable<UsersTable>
export type MessageRow = Selectable<MessagesTable>
