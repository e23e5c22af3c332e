/** The admin API's shapes (docs/openapi.json). */
export interface Person {
  id: string
  email: string
  displayName: string
}

export interface Conversation {
  id: string
  status: 'open' | 'closed'
  closedAt: string | null
  closedReason: string | null
  member: Person
  trainer: Person
  messageCount: number
  lastMessageAt: string | null
  createdAt: string
  updatedAt: string
}

export interface AdminMessage {
  id: string
  conversationId: string
  seq: number
  senderId: string
  body: string
  createdAt: string
  readAt: string | null
  removed: boolean
  attachment: { id: string; fileName: string; contentType: string; size: number } | null
  hiddenAt: string | null
  hiddenBy: Person | null
  hiddenReason: string | null
}

export type Role = 'user' | 'trainer' | 'admin'

export interface AdminUser {
  id: string
  email: string
  displayName: string
  role: Role
  trainer: Person | null
  disabledAt: string | null
  createdAt: string
}

export interface AuditEntry {
  id: string
  actor: Person
  action: string
  targetType: 'conversation' | 'message' | 'user' | 'report'
  targetId: string
  reason: string | null
  details: Record<string, unknown>
  createdAt: string
}

export interface Me {
  id: string
  email: string
  displayName: string
  role: Role
  trainerId: string | null
}

export const AUDIT_ACTIONS = [
  'conversation.closed',
  'conversation.reopened',
  'message.hidden',
  'user.trainer_assigned',
  'user.role_changed',
  'user.disabled',
  'user.enabled',
  'user.erased',
  'report.resolved',
] as const

export const REPORT_ACTIONS = ['dismiss', 'hide_message', 'close_conversation', 'disable_user'] as const
export type ReportAction = (typeof REPORT_ACTIONS)[number]

export interface AdminReport {
  id: string
  messageId: string
  conversationId: string
  reason: 'harassment' | 'spam' | 'inappropriate' | 'other'
  note: string | null
  status: 'open' | 'resolved'
  createdAt: string
  reporter: Person
  message: AdminMessage
  conversation: Conversation
  resolvedAt: string | null
  resolvedBy: Person | null
  resolution: ReportAction | null
  resolutionNote: string | null
}
