import * as z from 'zod/mini'

/** The objects frames carry, as the API shows them (camelCase, ISO timestamps). */

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
