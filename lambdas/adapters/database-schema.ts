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
}

export interface ConnectionsTable {
  connection_id: string
  user_id: string
  connected_at: CreatedAt
  expires_at: Timestamp
  joined_conversation_ids: ColumnType<string[], string[] | undefined, string[]>
}

export interface Database {
  users: UsersTable
  conversations: ConversationsTable
  messages: MessagesTable
  connections: ConnectionsTable
}

export type UserRow = Selectable<UsersTable>
export type MessageRow = Selectable<MessagesTable>
