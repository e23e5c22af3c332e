import * as z from 'zod/mini'
import { ERROR_CODES, REQUEST_ID_MAX_CHARS, RequestIdField as requestId } from './server.ts'

/**
 * The WebSocket protocol (the package's entry point): the objects frames carry and the frames the
 * server sends, with everything of server.ts (error codes, limits, what a client sends)
 * re-exported, so a client imports one module. docs/asyncapi.json is generated from these schemas.
 */

export * from './server.ts'

// ---- the objects frames carry, as the API shows them (camelCase, ISO timestamps) ----

export const AttachmentSchema = z.object({
  id: z.string(),
  fileName: z.string(),
  contentType: z.string(),
  size: z.number(),
  /** A short-lived presigned GET made for the reader. */
  downloadUrl: z.string(),
})

/** The message a reply answers, as the reply shows it. */
export const ReplyToSchema = z.object({
  id: z.string(),
  senderId: z.string(),
  /** At most 100 characters of its body; empty when that message was deleted or removed. */
  preview: z.string().check(z.maxLength(100)),
})

/** One emoji on a message and who put it there, in the order they reacted. */
export const ReactionSchema = z.object({
  emoji: z.string(),
  userIds: z.array(z.string()),
})

export const MessageSchema = z.object({
  id: z.string(),
  conversationId: z.string(),
  /** Gap-free per conversation, from 1. */
  seq: z.number(),
  senderId: z.string(),
  /** Empty when the message was removed by a moderator or deleted by its sender. */
  body: z.string(),
  clientMessageId: z.string(),
  createdAt: z.string(),
  readAt: z.nullable(z.string()),
  /** True when a moderator hid the message; its body is withheld from participants. */
  removed: z.boolean(),
  /** The file the message carries, if any (withheld, like the body, when the message is removed or deleted). */
  attachment: z.nullable(AttachmentSchema),
  /** When the sender last edited the body; null if never. */
  editedAt: z.nullable(z.string()),
  /** When the sender deleted the message: its body is then empty, its attachment and reactions gone. */
  deletedAt: z.nullable(z.string()),
  /** The message of the same conversation this one answers, if any. */
  replyTo: z.nullable(ReplyToSchema),
  /** Emoji reactions, in the order each emoji was first used (empty on a deleted message). */
  reactions: z.array(ReactionSchema),
})

/** A conversation as `conversationOpened` carries it: who takes part and its state. */
export const ConversationSchema = z.object({
  id: z.string(),
  /** The member. */
  userId: z.string(),
  trainerId: z.string(),
  status: z.enum(['open', 'closed']),
  updatedAt: z.string(),
})

export type ConversationRef = z.infer<typeof ConversationSchema>

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

export interface ReplyTo {
  id: string
  senderId: string
  preview: string
}

export interface Reaction {
  emoji: string
  userIds: string[]
}

export interface Message {
  id: string
  conversationId: string
  seq: number
  senderId: string
  body: string
  clientMessageId: string
  createdAt: string
  readAt: string | null
  removed: boolean
  attachment: Attachment | null
  editedAt: string | null
  deletedAt: string | null
  replyTo: ReplyTo | null
  reactions: Reaction[]
}

// The interfaces above are what code reads; the schemas are what the document says. Same shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const sameMessage: Same<z.infer<typeof MessageSchema>, Message> = true
const sameAttachment: Same<z.infer<typeof AttachmentSchema>, Attachment> = true
void sameMessage
void sameAttachment

// ---- server → client ----

const conversationId = z.string()
const userId = z.string()

export const ConversationHistoryFrame = z.object({
  type: z.literal('conversationHistory'),
  conversationId,
  /** Oldest first. */
  messages: z.array(MessageSchema),
  hasMore: z.boolean(),
  requestId,
})

export const NewMessageFrame = z.object({
  type: z.literal('newMessage'),
  message: MessageSchema,
  /** Only on the sender's acknowledgement. */
  requestId,
})

export const NewMessageNotificationFrame = z.object({
  type: z.literal('newMessageNotification'),
  conversationId,
  messageId: z.string(),
  senderId: z.string(),
  preview: z.string().check(z.maxLength(100)),
})

export const UserJoinedFrame = z.object({ type: z.literal('userJoined'), conversationId, userId })
export const UserLeftFrame = z.object({ type: z.literal('userLeft'), conversationId, userId })

export const UserTypingFrame = z.object({
  type: z.literal('userTyping'),
  conversationId,
  userId,
  isTyping: z.boolean(),
})

export const MessageReadFrame = z.object({
  type: z.literal('messageRead'),
  conversationId,
  messageId: z.string(),
  userId,
  readAt: z.string(),
})

export const ConversationClosedFrame = z.object({
  type: z.literal('conversationClosed'),
  conversationId,
  reason: z.string(),
})

export const MessageRemovedFrame = z.object({
  type: z.literal('messageRemoved'),
  conversationId,
  messageId: z.string(),
})

/** A message's body was edited: the message as it now reads (with `editedAt`). */
export const MessageUpdatedFrame = z.object({
  type: z.literal('messageUpdated'),
  conversationId,
  message: MessageSchema,
  /** Only on the editor's answer. */
  requestId,
})

/** The sender deleted a message: it keeps its seq, with an empty body and `deletedAt` set. */
export const MessageDeletedFrame = z.object({
  type: z.literal('messageDeleted'),
  conversationId,
  messageId: z.string(),
  /** Only on the deleter's answer. */
  requestId,
})

/** A message's reactions changed: all of them, as they now stand. */
export const ReactionChangedFrame = z.object({
  type: z.literal('reactionChanged'),
  conversationId,
  messageId: z.string(),
  reactions: z.array(ReactionSchema),
  /** Only on the reactor's answer. */
  requestId,
})

/**
 * The other participant came online (their first live connection opened) or went offline (their
 * last one closed). `lastSeenAt` is when their last connection closed: null while online, for a
 * user never seen, and always for a user who turned sharing off (they always appear offline).
 */
export const PresenceFrame = z.object({
  type: z.literal('presence'),
  conversationId,
  userId,
  online: z.boolean(),
  lastSeenAt: z.nullable(z.string()),
})

/** An admin reopened the conversation or assigned the member a new trainer: it can be used now. */
export const ConversationOpenedFrame = z.object({
  type: z.literal('conversationOpened'),
  conversation: ConversationSchema,
})

/** The reply to a request that has no result of its own (`markAsRead`, `typing`, `leaveConversation`). */
export const OkFrame = z.object({
  type: z.literal('ok'),
  requestId: z.string().check(z.maxLength(REQUEST_ID_MAX_CHARS)),
})

export const PongFrame = z.object({ type: z.literal('pong') })


export const ErrorFrame = z.object({
  type: z.literal('error'),
  code: z.enum(ERROR_CODES),
  message: z.string(),
  requestId,
  details: z.optional(z.record(z.string(), z.unknown())),
})

export const SERVER_FRAMES = {
  conversationHistory: ConversationHistoryFrame,
  newMessage: NewMessageFrame,
  newMessageNotification: NewMessageNotificationFrame,
  userJoined: UserJoinedFrame,
  userLeft: UserLeftFrame,
  userTyping: UserTypingFrame,
  messageRead: MessageReadFrame,
  conversationClosed: ConversationClosedFrame,
  messageRemoved: MessageRemovedFrame,
  ok: OkFrame,
  pong: PongFrame,
  error: ErrorFrame,
  messageUpdated: MessageUpdatedFrame,
  messageDeleted: MessageDeletedFrame,
  reactionChanged: ReactionChangedFrame,
  presence: PresenceFrame,
  conversationOpened: ConversationOpenedFrame,
} as const

export type ServerFrameType = keyof typeof SERVER_FRAMES
export type ServerFrameOf<T extends ServerFrameType> = z.infer<(typeof SERVER_FRAMES)[T]>
export type ServerFrame = { [T in ServerFrameType]: ServerFrameOf<T> }[ServerFrameType]
