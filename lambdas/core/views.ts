import * as z from 'zod/mini'
import { ROLES, type ConversationSummary, type Message, type User } from './model.ts'

/**
 * What the REST routes answer, as zod/mini schemas. Handlers never validate their own output
 * with these; they exist so the OpenAPI document describes responses from code rather than from
 * prose. The type checks at the bottom keep them equal to the domain types, so a field added to
 * the model fails the build until the document shows it too.
 */

export const Id = z.guid()
export const Timestamp = z.iso.datetime()

export const AttachmentInfoView = z.object({ id: Id, fileName: z.string(), contentType: z.string(), size: z.int() })
export const AttachmentView = z.extend(AttachmentInfoView, { downloadUrl: z.string() })

export const MessageView = z.object({
  id: Id,
  conversationId: Id,
  seq: z.int(),
  senderId: Id,
  body: z.string(),
  clientMessageId: z.string(),
  createdAt: Timestamp,
  readAt: z.nullable(Timestamp),
  removed: z.boolean(),
  attachment: z.nullable(AttachmentView),
})

export const UserView = z.object({
  id: Id,
  email: z.string(),
  displayName: z.string(),
  role: z.enum(ROLES),
  trainerId: z.nullable(Id),
})

export const ConversationSummaryView = z.object({
  id: Id,
  userId: Id,
  trainerId: Id,
  status: z.enum(['open', 'closed']),
  lastMessage: z.nullable(MessageView),
  unreadCount: z.int(),
  updatedAt: Timestamp,
})

/** True only when A and B are the same type; assigning `true` to it fails to compile otherwise. */
export type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

const messageViewMatchesModel: SameType<z.infer<typeof MessageView>, Message> = true
const userViewMatchesModel: SameType<z.infer<typeof UserView>, User> = true
const summaryViewMatchesModel: SameType<z.infer<typeof ConversationSummaryView>, ConversationSummary> = true
void [messageViewMatchesModel, userViewMatchesModel, summaryViewMatchesModel]
