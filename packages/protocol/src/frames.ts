import * as z from 'zod/mini'

/**
 * The WebSocket protocol, in one file (the package's entry point): the error codes, the objects
 * frames carry, client frames (validated by the server, unknown keys dropped so that
 * server-owned fields such as `senderId` or `seq` can never be supplied by a client) and the
 * frames the server sends. docs/asyncapi.json is generated from these schemas.
 */

// ---- error codes ----

/**
 * The protocol's error codes and the HTTP status each maps to. A client sees the code in an
 * `error` frame or a REST error body; the server derives the status from it.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  conversation_closed: 409,
  too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]

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

// ---- limits ----

export const MAX_BODY_CHARS = 4000
export const HISTORY_DEFAULT_LIMIT = 50
export const HISTORY_MAX_LIMIT = 100
export const REQUEST_ID_MAX_CHARS = 64
export const CLIENT_MESSAGE_ID_MAX_CHARS = 64
/**
 * API Gateway refuses a PostToConnection payload over 128 KB, so no server frame may be larger
 * (encoded as UTF-8 JSON). A `conversationHistory` page ends early, with `hasMore`, to stay under it.
 */
export const MAX_SERVER_FRAME_BYTES = 128 * 1024

/**
 * The `requestId` of a raw frame body when it is a usable one (a string of at most
 * REQUEST_ID_MAX_CHARS), else undefined, even when the rest of the frame does not parse: what the
 * server echoes on an `error` frame and what the local gateway logs. A longer id is dropped, not
 * cut: the frame carrying it is refused, and a cut id would name a request nobody sent.
 */
export function requestIdOf(body: string | null | undefined): string | undefined {
  try {
    const requestId = (JSON.parse(body ?? '') as { requestId?: unknown } | null)?.requestId
    return typeof requestId === 'string' && requestId.length <= REQUEST_ID_MAX_CHARS ? requestId : undefined
  } catch {
    return undefined
  }
}

const id = z.guid()
const requestId = z.optional(z.string().check(z.maxLength(REQUEST_ID_MAX_CHARS)))
const seq = z.number().check(z.int(), z.minimum(0), z.maximum(2_147_483_647))

// ---- client → server ----

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
  clientMessageId: z.string().check(z.minLength(1), z.maxLength(CLIENT_MESSAGE_ID_MAX_CHARS)),
  // The 1..4000 rule applies after trimming and answers `too_large`, so it lives in the use case.
  body: z.optional(z.string()),
  attachmentId: z.optional(id),
  /** A message of the same conversation this one answers. */
  replyToId: z.optional(id),
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

export const EditMessageFrame = z.object({
  action: z.literal('editMessage'),
  requestId,
  conversationId: id,
  messageId: id,
  // 1..4000 characters after trimming, as for sendMessage: checked in the use case.
  body: z.string(),
})

export const DeleteMessageFrame = z.object({
  action: z.literal('deleteMessage'),
  requestId,
  conversationId: id,
  messageId: id,
})

/** The longest emoji sequence a reaction may name; the configured set is checked in the use case. */
export const REACTION_EMOJI_MAX_CHARS = 32

export const ReactFrame = z.object({
  action: z.literal('react'),
  requestId,
  conversationId: id,
  messageId: id,
  emoji: z.string().check(z.minLength(1), z.maxLength(REACTION_EMOJI_MAX_CHARS)),
  /** true adds the caller's reaction, false takes it back. */
  on: z.boolean(),
})

/**
 * The heartbeat. API Gateway answers it itself (a MOCK integration with a route response, no
 * Lambda), with `pong`; it carries no requestId because a mock cannot echo one.
 */
export const PingFrame = z.object({
  action: z.literal('ping'),
})

export type JoinConversation = z.infer<typeof JoinConversationFrame>
export type LeaveConversation = z.infer<typeof LeaveConversationFrame>
export type SendMessage = z.infer<typeof SendMessageFrame>
export type Typing = z.infer<typeof TypingFrame>
export type MarkAsRead = z.infer<typeof MarkAsReadFrame>
export type Ping = z.infer<typeof PingFrame>
export type EditMessage = z.infer<typeof EditMessageFrame>
export type DeleteMessage = z.infer<typeof DeleteMessageFrame>
export type React = z.infer<typeof ReactFrame>
export type ClientFrame = JoinConversation | LeaveConversation | SendMessage | Typing | MarkAsRead | Ping | EditMessage | DeleteMessage | React

export const PING_ACTION = 'ping'

export const CLIENT_FRAMES = {
  joinConversation: JoinConversationFrame,
  leaveConversation: LeaveConversationFrame,
  sendMessage: SendMessageFrame,
  typing: TypingFrame,
  markAsRead: MarkAsReadFrame,
  ping: PingFrame,
  editMessage: EditMessageFrame,
  deleteMessage: DeleteMessageFrame,
  react: ReactFrame,
} as const

export type ClientAction = Exclude<keyof typeof CLIENT_FRAMES, typeof PING_ACTION>
/**
 * The actions served by a Lambda handler (`ping` is answered by the gateway itself), in
 * CLIENT_FRAMES' order: the one list of them (lambdas/websocket/routes.ts gives each its function).
 */
export const CLIENT_ACTIONS = Object.keys(CLIENT_FRAMES).filter((key): key is ClientAction => key !== PING_ACTION)

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

/** The exact text the `ping` route answers, from API Gateway's mock and from the local gateway. */
export const PONG_REPLY = '{"type":"pong"}'

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
