/** Domain objects as the API shows them (camelCase, ISO timestamps). */

export const ROLES = ['user', 'trainer', 'admin'] as const
export type Role = (typeof ROLES)[number]

export interface User {
  id: string
  email: string
  displayName: string
  role: Role
  trainerId: string | null
}

export interface Message {
  id: string
  conversationId: string
  seq: number
  senderId: string
  /** Empty when the message was removed by a moderator. */
  body: string
  clientMessageId: string
  createdAt: string
  readAt: string | null
  /** True when a moderator hid the message; its body is withheld from participants. */
  removed: boolean
  /** The file the message carries, if any (withheld, like the body, when the message is removed). */
  attachment: Attachment | null
}

/** An uploaded file as the database describes it. */
export interface AttachmentInfo {
  id: string
  fileName: string
  contentType: string
  size: number
}

/** An attachment as a reader sees it: with a short-lived download URL made for them. */
export interface Attachment extends AttachmentInfo {
  downloadUrl: string
}

/** A message as stored: its attachment is not yet signed for a reader (see core/attachments.ts). */
export type StoredMessage = Omit<Message, 'attachment'> & { attachment: AttachmentInfo | null }

export type ConversationStatus = 'open' | 'closed'

export interface ConversationSummary {
  id: string
  userId: string
  trainerId: string
  status: ConversationStatus
  lastMessage: Message | null
  unreadCount: number
  updatedAt: string
}

export const PLATFORMS = ['ios', 'android'] as const
export type Platform = (typeof PLATFORMS)[number]

/** A phone registered for push notifications. */
export interface Device {
  token: string
  platform: Platform
  /** False once the push provider reported the endpoint disabled; registering again re-enables it. */
  enabled: boolean
  createdAt: string
  updatedAt: string
}

/** Who is calling, as the verified token says. The database row, not the token, decides the role. */
export interface Identity {
  subject: string
  email: string
  displayName: string
  groups: string[]
}

/** The role a brand-new user gets on first contact, from the identity provider's groups. */
export function initialRole(groups: readonly string[]): Role {
  if (groups.includes('admin')) return 'admin'
  if (groups.includes('trainer')) return 'trainer'
  return 'user'
}

/** A live WebSocket connection that should hear about a conversation. */
export interface Listener {
  connectionId: string
  userId: string
  /** Whether the connection has joined (is looking at) the conversation. */
  joined: boolean
}
