import * as z from 'zod/mini'
import type { ErrorCode } from './errors.ts'
import type { Message } from './model.ts'

/**
 * The WebSocket protocol: client frames (validated here, unknown keys dropped so that
 * server-owned fields such as `senderId` or `seq` can never be supplied by a client) and
 * the frames the server sends.
 */

export const MAX_BODY_CHARS = 4000
export const HISTORY_DEFAULT_LIMIT = 50
export const HISTORY_MAX_LIMIT = 100

const id = z.guid()
const requestId = z.optional(z.string().check(z.maxLength(64)))
const seq = z.number().check(z.int(), z.minimum(0), z.maximum(2_147_483_647))

export const JoinConversationFrame = z.object({
  action: z.literal('joinConversation'),
  requestId,
  conversationId: id,
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(HISTORY_MAX_LIMIT))),
  afterSeq: z.optional(seq),
})

export const LeaveConversationFrame = z.object({
  action: z.literal('leaveConversation'),
  requestId,
  conversationId: id,
})

export const SendMessageFrame = z.object({
  action: z.literal('sendMessage'),
  requestId,
  conversationId: id,
  clientMessageId: z.string().check(z.minLength(1), z.maxLength(64)),
  // The 1..4000 rule applies after trimming and answers `too_large`, so it lives in the use case.
  body: z.optional(z.string()),
  attachmentId: z.optional(id),
})

export const TypingFrame = z.object({
  action: z.literal('typing'),
  requestId,
  conversationId: id,
  isTyping: z.boolean(),
})

export const MarkAsReadFrame = z.object({
  action: z.literal('markAsRead'),
  requestId,
  conversationId: id,
  messageId: id,
})

export type JoinConversation = z.infer<typeof JoinConversationFrame>
export type LeaveConversation = z.infer<typeof LeaveConversationFrame>
export type SendMessage = z.infer<typeof SendMessageFrame>
export type Typing = z.infer<typeof TypingFrame>
export type MarkAsRead = z.infer<typeof MarkAsReadFrame>

export type ServerFrame =
  | { type: 'conversationHistory'; conversationId: string; messages: Message[]; hasMore: boolean; requestId?: string }
  | { type: 'newMessage'; message: Message; requestId?: string }
  | { type: 'newMessageNotification'; conversationId: string; messageId: string; senderId: string; preview: string }
  | { type: 'userJoined' | 'userLeft'; conversationId: string; userId: string }
  | { type: 'userTyping'; conversationId: string; userId: string; isTyping: boolean }
  | { type: 'messageRead'; conversationId: string; messageId: string; userId: string; readAt: string }
  | { type: 'conversationClosed'; conversationId: string; reason: string }
  | { type: 'messageRemoved'; conversationId: string; messageId: string }
  | {
      type: 'error'
      code: ErrorCode
      message: string
      requestId?: string
      details?: Record<string, unknown>
    }
