import { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT } from '@trainer-chat/protocol/server'
import * as z from 'zod/mini'
import {
  ADMIN_PAGE,
  AUDIT_ACTIONS,
  AUDIT_TARGETS,
  MAX_REASON_CHARS,
  type AdminConversation,
  type AdminMessage,
  type AdminUser,
  type AuditEntry,
} from '../core/admin/model.ts'
import { PLATFORMS, ROLES, type ConversationSummary, type Message, type PageSize, type User } from '../core/model.ts'
import {
  MAX_REPORT_NOTE_CHARS,
  REPORT_ACTIONS,
  REPORT_REASONS,
  REPORT_STATUSES,
  type AdminReport,
  type Report,
} from '../core/reports.ts'
import { SEARCH_PAGE, SEARCH_QUERY_MAX_CHARS, type SearchHit } from '../core/search.ts'

/**
 * The REST API's request and response schemas (zod/mini). Requests are validated with them;
 * responses are not, they exist so the OpenAPI document describes responses from code rather
 * than from prose. The type checks at the bottom keep them equal to the domain types, so a field
 * added to the model fails the build until the document shows it too.
 *
 * Each schema is built on its first use (`lazy`), not when the module loads: a Lambda's cold
 * start then builds none of them, and a request builds only its own route's (issue #12 item 5).
 */

/** `build()` run on the first call and its result kept: the same schema instance on every call. */
export function lazy<T>(build: () => T): () => T {
  let built: T | undefined
  return () => (built ??= build())
}

/** What a lazily built schema parses to. */
export type Parsed<S extends () => z.ZodMiniType> = z.infer<ReturnType<S>>

export const Id = lazy(() => z.guid())
/** An ISO 8601 UTC timestamp as the API writes them. */
export const IsoTimestamp = lazy(() => z.iso.datetime())

// ---- Requests ----

export const IdParams = lazy(() => z.object({ id: Id() }))
export const limit = ({ defaultLimit, maxLimit }: PageSize) => z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(maxLimit)), defaultLimit)

/** The protocol's history page (joinConversation's), which the REST history shares. */
const HISTORY_PAGE: PageSize = { defaultLimit: HISTORY_DEFAULT_LIMIT, maxLimit: HISTORY_MAX_LIMIT }

export const HistoryQuery = lazy(() => z.object({
  before: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(2_147_483_647))),
  limit: limit(HISTORY_PAGE),
}))

export const UploadRequest = lazy(() => z.object({
  fileName: z.string().check(z.minLength(1), z.maxLength(1024)),
  contentType: z.string().check(z.minLength(1), z.maxLength(255)),
  size: z.number().check(z.int(), z.minimum(1), z.maximum(2_147_483_647)),
}))

const DeviceToken = lazy(() => z.string().check(z.minLength(1), z.maxLength(4096)))
export const DeviceRequest = lazy(() => z.object({ platform: z.enum(PLATFORMS), token: DeviceToken() }))
export const DeviceParams = lazy(() => z.object({ token: DeviceToken() }))
export const Muted = lazy(() => z.object({ muted: z.boolean() }))
/** PUT /me/presence: false shows the caller offline, with no last-seen time, to everyone. */
export const PresenceVisibility = lazy(() => z.object({ visible: z.boolean() }))

// ---- Keyset pagination (admin lists) ----

/**
 * The sort key of the last row of a page. Timestamps keep Postgres' microseconds: a key rounded
 * to milliseconds would skip or repeat rows that share a millisecond.
 */
export const ActivityKey = lazy(() => z.object({ at: z.iso.datetime({ precision: 6 }), id: Id() }))
export const EmailKey = lazy(() => z.object({ email: z.string().check(z.maxLength(320)), id: Id() }))
/** The seq of the last hit of a conversation's search page. */
export const SeqKey = lazy(() => z.object({ seq: z.int().check(z.minimum(1), z.maximum(2_147_483_647)) }))

/** Cursors are opaque to clients: base64url JSON of a sort key. */
export function encodeCursor(key: Parsed<typeof ActivityKey> | Parsed<typeof EmailKey> | Parsed<typeof SeqKey> | null): string | null {
  return key ? Buffer.from(JSON.stringify(key), 'utf8').toString('base64url') : null
}

/** A query parameter schema that decodes a cursor into its key, or fails validation (400). */
export function cursorOf<K extends z.ZodMiniType>(key: K) {
  return z.pipe(
    z.string().check(z.maxLength(1024)),
    z.transform((value: string, ctx): z.output<K> => {
      let json: unknown
      try {
        json = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
      } catch {
        json = undefined
      }
      const decoded = key.safeParse(json)
      if (decoded.success) return decoded.data as z.output<K>
      ctx.issues.push({ code: 'custom', message: 'Invalid cursor', input: value })
      return z.NEVER
    }),
  )
}

const pageLimit = lazy(() => limit(ADMIN_PAGE))
const Reason = lazy(() => z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_REASON_CHARS)))

export const ConversationListQuery = lazy(() => z.object({
  status: z.optional(z.enum(['open', 'closed'])),
  trainerId: z.optional(Id()),
  /** The member's id. */
  userId: z.optional(Id()),
  limit: pageLimit(),
  cursor: z.optional(cursorOf(ActivityKey())),
}))
export const UserListQuery = lazy(() => z.object({ role: z.optional(z.enum(ROLES)), limit: pageLimit(), cursor: z.optional(cursorOf(EmailKey())) }))
export const AuditQuery = lazy(() => z.object({ limit: pageLimit(), cursor: z.optional(cursorOf(ActivityKey())) }))

export const ReasonBody = lazy(() => z.object({ reason: Reason() }))
export const AssignTrainerBody = lazy(() => z.object({ trainerId: Id(), reason: z.optional(Reason()) }))
export const ChangeRoleBody = lazy(() => z.object({ role: z.enum(ROLES), reason: z.optional(Reason()) }))
export const SetDisabledBody = lazy(() => z.object({ disabled: z.boolean(), reason: z.optional(Reason()) }))

// ---- Responses ----

export const AttachmentInfoView = lazy(() => z.object({ id: Id(), fileName: z.string(), contentType: z.string(), size: z.int() }))
export const AttachmentView = lazy(() => z.extend(AttachmentInfoView(), { downloadUrl: z.string() }))

export const MessageView = lazy(() => z.object({
  id: Id(),
  conversationId: Id(),
  seq: z.int(),
  senderId: Id(),
  body: z.string(),
  clientMessageId: z.string(),
  createdAt: IsoTimestamp(),
  readAt: z.nullable(IsoTimestamp()),
  removed: z.boolean(),
  attachment: z.nullable(AttachmentView()),
  /** When the sender last edited the body; null if never. */
  editedAt: z.nullable(IsoTimestamp()),
  /** When the sender deleted it: the body is then empty, the attachment and reactions withheld. */
  deletedAt: z.nullable(IsoTimestamp()),
  /** The message of the same conversation this one answers; preview empty when that one was deleted or removed. */
  replyTo: z.nullable(z.object({ id: Id(), senderId: Id(), preview: z.string().check(z.maxLength(100)) })),
  /** Emoji reactions in the order each emoji was first used, with who reacted in order. */
  reactions: z.array(z.object({ emoji: z.string(), userIds: z.array(Id()) })),
}))

export const UserRefView = lazy(() => z.object({ id: Id(), email: z.string(), displayName: z.string() }))

export const UserView = lazy(() => z.extend(UserRefView(), {
  role: z.enum(ROLES),
  trainerId: z.nullable(Id()),
}))

export const ConversationSummaryView = lazy(() => z.object({
  id: Id(),
  userId: Id(),
  trainerId: Id(),
  status: z.enum(['open', 'closed']),
  lastMessage: z.nullable(MessageView()),
  unreadCount: z.int(),
  updatedAt: IsoTimestamp(),
  /** The other participant has a live connection and shares presence. */
  online: z.boolean(),
  /** When the other participant's last connection closed; null while online, never seen, or when they do not share presence. */
  lastSeenAt: z.nullable(IsoTimestamp()),
}))

export const UploadView = lazy(() => z.object({
  attachmentId: Id(),
  uploadUrl: z.string(),
  method: z.literal('PUT'),
  headers: z.record(z.string(), z.string()),
  expiresAt: IsoTimestamp(),
}))

export const DeviceView = lazy(() => z.object({
  /** The token's last four characters (`…a1b2`); the token itself is never sent back (#11 item 11). */
  tokenHint: z.string(),
  platform: z.enum(PLATFORMS),
  enabled: z.boolean(),
  createdAt: IsoTimestamp(),
  updatedAt: IsoTimestamp(),
}))

export const AdminConversationView = lazy(() => z.object({
  id: Id(),
  status: z.enum(['open', 'closed']),
  closedAt: z.nullable(IsoTimestamp()),
  closedReason: z.nullable(z.string()),
  member: UserRefView(),
  trainer: UserRefView(),
  /** seq is gap-free per conversation, so the last seq is the number of messages. */
  messageCount: z.int(),
  lastMessageAt: z.nullable(IsoTimestamp()),
  createdAt: IsoTimestamp(),
  updatedAt: IsoTimestamp(),
}))

/**
 * A message as moderators see it: the original body and attachment even when hidden or deleted,
 * who hid it and why, and every earlier version of an edited one. The attachment is described, not signed: no download URL.
 */
export const AdminMessageView = lazy(() => z.extend(MessageView(), {
  attachment: z.nullable(AttachmentInfoView()),
  hiddenAt: z.nullable(IsoTimestamp()),
  hiddenBy: z.nullable(UserRefView()),
  hiddenReason: z.nullable(z.string()),
  /** Every earlier version of an edited message, oldest first: the body it had until `editedAt`. */
  edits: z.array(z.object({ body: z.string(), editedAt: IsoTimestamp() })),
}))

export const AdminUserView = lazy(() => z.extend(UserRefView(), {
  role: z.enum(ROLES),
  trainer: z.nullable(UserRefView()),
  disabledAt: z.nullable(IsoTimestamp()),
  createdAt: IsoTimestamp(),
}))

export const AuditEntryView = lazy(() => z.object({
  id: Id(),
  actor: UserRefView(),
  action: z.enum(AUDIT_ACTIONS),
  targetType: z.enum(AUDIT_TARGETS),
  targetId: Id(),
  reason: z.nullable(z.string()),
  details: z.record(z.string(), z.unknown()),
  createdAt: IsoTimestamp(),
}))

export const NextCursor = lazy(() => z.nullable(z.string()))

// ---- Search and reports (issue #13) ----

const SearchText = lazy(() => z.string().check(z.trim(), z.minLength(1), z.maxLength(SEARCH_QUERY_MAX_CHARS)))
const searchLimit = lazy(() => limit(SEARCH_PAGE))
export const ConversationSearchQuery = lazy(() => z.object({ q: SearchText(), limit: searchLimit(), cursor: z.optional(cursorOf(SeqKey())) }))
export const SearchQuery = lazy(() => z.object({ q: SearchText(), limit: searchLimit(), cursor: z.optional(cursorOf(ActivityKey())) }))

export const SearchHitView = lazy(() => z.object({
  conversationId: Id(),
  messageId: Id(),
  seq: z.int(),
  senderId: Id(),
  createdAt: IsoTimestamp(),
  snippet: z.string(),
  highlights: z.array(z.object({ start: z.int(), end: z.int() })),
}))
export const SearchPageView = lazy(() => z.object({ hits: z.array(SearchHitView()), nextCursor: NextCursor() }))

export const ReportBody = lazy(() => z.object({
  reason: z.enum(REPORT_REASONS),
  note: z.optional(z.string().check(z.trim(), z.maxLength(MAX_REPORT_NOTE_CHARS))),
}))
export const ReportListQuery = lazy(() => z.object({
  status: z.optional(z.enum(REPORT_STATUSES)),
  limit: pageLimit(),
  cursor: z.optional(cursorOf(ActivityKey())),
}))
export const ResolveReportBody = lazy(() => z.object({ action: z.enum(REPORT_ACTIONS), note: Reason() }))

export const ReportView = lazy(() => z.object({
  id: Id(),
  messageId: Id(),
  conversationId: Id(),
  reason: z.enum(REPORT_REASONS),
  note: z.nullable(z.string()),
  status: z.enum(REPORT_STATUSES),
  createdAt: IsoTimestamp(),
}))

export const AdminReportView = lazy(() => z.extend(ReportView(), {
  reporter: UserRefView(),
  message: AdminMessageView(),
  conversation: AdminConversationView(),
  resolvedAt: z.nullable(IsoTimestamp()),
  resolvedBy: z.nullable(UserRefView()),
  resolution: z.nullable(z.enum(REPORT_ACTIONS)),
  resolutionNote: z.nullable(z.string()),
}))

/** True only when A and B are the same type; assigning `true` to it fails to compile otherwise. */
type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

const viewsMatchModel: [
  SameType<Parsed<typeof MessageView>, Message>,
  SameType<Parsed<typeof UserView>, User>,
  SameType<Parsed<typeof ConversationSummaryView>, ConversationSummary>,
  SameType<Parsed<typeof AdminConversationView>, AdminConversation>,
  SameType<Parsed<typeof AdminMessageView>, AdminMessage>,
  SameType<Parsed<typeof AdminUserView>, AdminUser>,
  SameType<Parsed<typeof AuditEntryView>, AuditEntry>,
  SameType<Parsed<typeof SearchHitView>, SearchHit>,
  SameType<Parsed<typeof ReportView>, Report>,
  SameType<Parsed<typeof AdminReportView>, AdminReport>,
] = [true, true, true, true, true, true, true, true, true, true]
void viewsMatchModel
