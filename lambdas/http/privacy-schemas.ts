import * as z from 'zod/mini'
import { PLATFORMS, ROLES } from '../core/model.ts'
import {
  EXPORT_PAGE,
  type Erasure,
  type ExportConversation,
  type ExportDocument,
  type ExportKey,
  type ExportMessage,
} from '../core/privacy.ts'
import { AttachmentView, cursorOf, Id, IsoTimestamp, lazy, limit, NextCursor, type Parsed } from './schemas.ts'

/** The export and erasure routes' schemas (lambdas/http/routes.ts), built on first use as in schemas.ts and checked against core/privacy.ts below. */

const ExportKeySchema = lazy(() => z.object({ conversationId: Id(), seq: z.int() }))

export function encodeExportCursor(key: ExportKey | null): string | null {
  return key ? Buffer.from(JSON.stringify(key), 'utf8').toString('base64url') : null
}

export const ExportMessagesQuery = lazy(() => z.object({
  limit: limit(EXPORT_PAGE),
  cursor: z.optional(cursorOf(ExportKeySchema())),
}))
export const ExportQuery = lazy(() => z.object({ limit: limit(EXPORT_PAGE) }))

export const ExportMessageView = lazy(() => z.object({
  id: Id(),
  conversationId: Id(),
  seq: z.int(),
  senderId: Id(),
  sentByMe: z.boolean(),
  body: z.string(),
  clientMessageId: z.string(),
  createdAt: IsoTimestamp(),
  readAt: z.nullable(IsoTimestamp()),
  editedAt: z.nullable(IsoTimestamp()),
  deletedAt: z.nullable(IsoTimestamp()),
  removed: z.boolean(),
  replyToId: z.nullable(Id()),
  attachment: z.nullable(AttachmentView()),
}))

export const ExportConversationView = lazy(() => z.object({
  id: Id(),
  as: z.enum(['member', 'trainer']),
  memberId: Id(),
  trainerId: Id(),
  status: z.enum(['open', 'closed']),
  closedAt: z.nullable(IsoTimestamp()),
  closedReason: z.nullable(z.string()),
  createdAt: IsoTimestamp(),
  lastMessageAt: z.nullable(IsoTimestamp()),
  messageCount: z.int(),
  lastReadSeq: z.nullable(z.int()),
  unreadCount: z.int(),
  muted: z.boolean(),
}))

export const ExportMessagesView = lazy(() => z.object({ messages: z.array(ExportMessageView()), nextCursor: NextCursor() }))

export const ExportDocumentView = lazy(() => z.object({
  exportedAt: IsoTimestamp(),
  profile: z.object({
    id: Id(),
    subject: z.string(),
    email: z.string(),
    displayName: z.string(),
    role: z.enum(ROLES),
    trainerId: z.nullable(Id()),
    createdAt: IsoTimestamp(),
    updatedAt: IsoTimestamp(),
  }),
  conversations: z.array(ExportConversationView()),
  devices: z.array(z.object({ platform: z.enum(PLATFORMS), enabled: z.boolean(), createdAt: IsoTimestamp(), updatedAt: IsoTimestamp() })),
  notificationSettings: z.object({ muted: z.boolean(), mutedConversationIds: z.array(Id()) }),
  unsentUploads: z.array(z.extend(AttachmentView(), { conversationId: Id(), createdAt: IsoTimestamp() })),
  accountHistory: z.array(z.object({ action: z.string(), reason: z.nullable(z.string()), createdAt: IsoTimestamp() })),
  reactions: z.array(z.object({ conversationId: Id(), messageId: Id(), emoji: z.string() })),
  messageEdits: z.array(z.object({ messageId: Id(), body: z.string(), editedAt: IsoTimestamp() })),
  reportsFiled: z.array(
    z.object({
      id: Id(),
      messageId: Id(),
      reason: z.string(),
      note: z.nullable(z.string()),
      status: z.enum(['open', 'resolved']),
      createdAt: IsoTimestamp(),
      resolvedAt: z.nullable(IsoTimestamp()),
      resolution: z.nullable(z.string()),
    }),
  ),
  /** The first page of messages; follow nextCursor on GET /me/export/messages for the rest. */
  messages: z.array(ExportMessageView()),
  nextCursor: NextCursor(),
}))

export const ErasureView = lazy(() => z.object({
  userId: Id(),
  erasedAt: IsoTimestamp(),
  messagesErased: z.int(),
  attachmentsErased: z.int(),
  devicesRemoved: z.int(),
  closedConversationIds: z.array(Id()),
  closedConnections: z.int(),
  deletions: z.object({ done: z.int(), pending: z.int() }),
}))


type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

const viewsMatchModel: [
  SameType<Parsed<typeof ExportMessageView>, ExportMessage>,
  SameType<Parsed<typeof ExportConversationView>, ExportConversation>,
  SameType<Omit<Parsed<typeof ExportDocumentView>, 'messages' | 'nextCursor'>, ExportDocument>,
  SameType<Parsed<typeof ErasureView>, Erasure>,
] = [true, true, true, true]
void viewsMatchModel
