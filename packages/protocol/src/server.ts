import * as z from 'zod/mini'

/**
 * The protocol as the server needs it: the error codes and their HTTP statuses, the limits, the
 * requestId of a raw frame, the heartbeat, and the frames a client sends, which the server
 * validates (unknown keys dropped, so that server-owned fields such as `senderId` or `seq` can
 * never be supplied by a client). The handlers import `@trainer-chat/protocol/server`, so a cold
 * start builds none of the schemas of what the server sends: those are for the client SDK and
 * docs/asyncapi.json, in frames.ts, the package's entry point, which re-exports this module.
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

/** The heartbeat's action, answered by the gateway itself (no Lambda). */
export const PING_ACTION = 'ping'

/** The exact text the `ping` route answers, from API Gateway's mock and from the local gateway. */
export const PONG_REPLY = '{"type":"pong"}'

// ---- client → server ----

const id = z.guid()
/** The optional requestId every frame but ping carries, which the server's answers echo. */
export const RequestIdField = z.optional(z.string().check(z.maxLength(REQUEST_ID_MAX_CHARS)))
const requestId = RequestIdField
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
