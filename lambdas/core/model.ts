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

import type { Attachment, AttachmentInfo, Message, Reaction, ReplyTo } from '@trainer-chat/protocol'

export type { Attachment, AttachmentInfo, Message, Reaction, ReplyTo }

/** A message as stored: its attachment is not yet signed for a reader (see core/attachments.ts). */
export type StoredMessage = Omit<Message, 'attachment'> & { attachment: AttachmentInfo | null }

export type ConversationStatus = 'open' | 'closed'

/** A list's page size: what a page holds when the caller names no limit, and the most it may ask for. */
export interface PageSize {
  defaultLimit: number
  maxLimit: number
}

export interface ConversationSummary {
  id: string
  userId: string
  trainerId: string
  status: ConversationStatus
  lastMessage: Message | null
  unreadCount: number
  updatedAt: string
  /** The other participant has a live connection and shares presence (#13). */
  online: boolean
  /** When the other participant's last connection closed; null while online, never seen, or not shared. */
  lastSeenAt: string | null
}

export const PLATFORMS = ['ios', 'android'] as const
export type Platform = (typeof PLATFORMS)[number]

/**
 * A phone registered for push notifications, as its owner sees it: never the token itself (#11
 * item 11), only its last characters, enough to tell one's own phones apart.
 */
export interface Device {
  tokenHint: string
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

/**
 * The per-user limits' defaults, named once: the settings (lambdas/config.ts) default to them, and so does a
 * chat store built without settings (tests, benches).
 */
export const DEFAULT_LIMITS = Object.freeze({
  send: Object.freeze({ burst: 20, perSecond: 1 }),
  typing: Object.freeze({ burst: 5, perSecond: 2 }),
  join: Object.freeze({ burst: 60, perSecond: 2 }),
  markAsRead: Object.freeze({ burst: 60, perSecond: 5 }),
  attachmentUseWithinSeconds: 24 * 60 * 60,
})
