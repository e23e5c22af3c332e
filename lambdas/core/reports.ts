import type { ServerFrame } from '@trainer-chat/protocol'
import { type AdminTransactions, listPage } from './admin/actor.ts'
import { auditRecord } from './admin/audit.ts'
import { closeConversationStep, hideMessageStep } from './admin/conversations.ts'
import type { ActivityKey, AdminConversation, AdminMessage, Notified, Page, UserRef } from './admin/model.ts'
import { announceClosed, announceHidden, disconnectAll } from './admin/notify.ts'
import type { AdminTransaction } from './admin/ports.ts'
import { setDisabledStep } from './admin/users.ts'
import { assertAccess } from './chat.ts'
import { ChatError, requireFound } from './errors.ts'
import type { ConversationStatus, Identity, Role } from './model.ts'
import type { Delivery, Departures, ForgetOptions, Log, Verdict } from './ports.ts'

/**
 * Reports and the moderation queue. A participant reports a message of a conversation they may
 * read (one open report per user per message); admins list the reports and resolve each with an
 * action, taken by the same steps as the admin routes (core/admin/: hide a message, close a
 * conversation, disable a user) in the transaction that resolves the report and writes its audit
 * row. Live connections hear about the action only after the commit, as for the admin routes.
 */

export const REPORT_REASONS = ['harassment', 'spam', 'inappropriate', 'other'] as const
export const REPORT_STATUSES = ['open', 'resolved'] as const
export const REPORT_ACTIONS = ['dismiss', 'hide_message', 'close_conversation', 'disable_user'] as const
export const MAX_REPORT_NOTE_CHARS = 1000

export type ReportReason = (typeof REPORT_REASONS)[number]
export type ReportStatus = (typeof REPORT_STATUSES)[number]
export type ReportAction = (typeof REPORT_ACTIONS)[number]

/** A report as its reporter sees it. */
export interface Report {
  id: string
  messageId: string
  conversationId: string
  reason: ReportReason
  note: string | null
  status: ReportStatus
  createdAt: string
}

/** A report as moderators see it: with the message (original body), its conversation, the reporter and the resolution. */
export interface AdminReport extends Report {
  reporter: UserRef
  message: AdminMessage
  conversation: AdminConversation
  resolvedAt: string | null
  resolvedBy: UserRef | null
  resolution: ReportAction | null
  resolutionNote: string | null
}

// ---- Ports ----

/** What filing a report found, from its one statement; `report` is set only when it was stored. */
export interface FiledReport {
  /** The caller's access to the message's conversation (`not_found` also when the message does not exist). */
  verdict: Verdict
  ownMessage: boolean
  messageRemoved: boolean
  /** The caller's open report of this message, when they already have one. */
  openReportId: string | null
  report: Report | null
}

/** What resolving a report acts on, read in the resolving transaction. */
export interface ReportState {
  id: string
  status: ReportStatus
  reporterId: string
  message: { id: string; hidden: boolean; senderId: string }
  conversation: { id: string; memberId: string; trainerId: string; status: ConversationStatus }
  sender: { id: string; role: Role; disabledAt: string | null }
}

export interface ReportFilter {
  status?: ReportStatus | undefined
  limit: number
  after?: ActivityKey | undefined
}

/** The admin statements plus the report ones, each one statement inside the request's transaction. */
export interface ReportTransaction extends AdminTransaction {
  listReports(filter: ReportFilter): Promise<Page<AdminReport, ActivityKey>>
  loadReport(reportId: string): Promise<ReportState | null>
  markResolved(reportId: string, resolvedBy: string, action: ReportAction, note: string): Promise<void>
  report(reportId: string): Promise<AdminReport>
}

/** `transaction` as AdminStore's: for an admin only, SERIALIZABLE, retried on a conflict, so `work` must touch only `tx`. */
export interface ReportStore extends AdminTransactions<ReportTransaction> {
  /** One statement: checks the caller may read the message and stores the report when allowed. */
  file(identity: Identity, input: { messageId: string; reason: ReportReason; note: string | null }): Promise<FiledReport>
  forgetConnections(connectionIds: readonly string[], options?: ForgetOptions): Promise<Departures>
}

export interface ReportPorts {
  store: ReportStore
  delivery: Delivery<ServerFrame>
  log: Log
}

// ---- Use cases ----

/**
 * File a report: the caller must be able to read the message's conversation (closed ones too:
 * abuse is often why a conversation was closed), and may not report their own message or one a
 * moderator already removed. A deleted message may be reported: moderators still see it.
 */
export async function fileReport(
  store: Pick<ReportStore, 'file'>,
  identity: Identity,
  input: { messageId: string; reason: ReportReason; note?: string | undefined },
): Promise<Report> {
  const note = input.note === undefined || input.note === '' ? null : input.note
  const filed = await store.file(identity, { messageId: input.messageId, reason: input.reason, note })
  if (filed.verdict === 'not_found') throw new ChatError('not_found', 'Message not found')
  assertAccess(filed.verdict, 'read')
  if (filed.ownMessage) throw new ChatError('bad_request', 'You cannot report your own message', { field: 'id' })
  if (filed.messageRemoved) throw new ChatError('conflict', 'A moderator already removed this message')
  if (!filed.report) {
    throw new ChatError('conflict', 'You already reported this message; it is waiting for a moderator', {
      ...(filed.openReportId ? { reportId: filed.openReportId } : {}),
    })
  }
  return filed.report
}

export function listReports(ports: ReportPorts, identity: Identity, filter: ReportFilter) {
  return listPage(ports.store, identity, 'reports', (tx) => tx.listReports(filter))
}

/**
 * Resolve an open report with an action, in one transaction:
 * 1. the report must exist and be open (a resolved one is 409);
 * 2. the action brings about its state through the admin route's own step: `hide_message` hides
 *    the message, `close_conversation` closes its conversation (with the note as reason),
 *    `disable_user` disables the message's sender; each writes its own audit row, as the admin
 *    route would. When that state already holds (another report or an admin got there first),
 *    nothing more is done: the report still resolves, and its audit row says `changed: false`;
 * 3. the report is marked resolved, with the `report.resolved` audit row;
 * 4. after the commit, live connections hear what the action changed (`messageRemoved`,
 *    `conversationClosed`; a disabled user's connections are closed).
 */
export async function resolveReport(
  ports: ReportPorts,
  identity: Identity,
  input: { reportId: string; action: ReportAction; note: string },
): Promise<AdminReport> {
  const outcome = await ports.store.transaction(identity, async (tx, admin) => {
    const report = requireFound(await tx.loadReport(input.reportId), 'Report not found')
    if (report.status === 'resolved') throw new ChatError('conflict', 'The report is already resolved')

    let hidden: Notified<AdminMessage> | undefined
    let closed: Notified<AdminConversation> | undefined
    let dropped: string[] = []
    let changed = false
    switch (input.action) {
      case 'dismiss':
        break
      case 'hide_message':
        if (!report.message.hidden) hidden = await hideMessageStep(tx, admin, report.message.id, input.note)
        changed = hidden !== undefined
        break
      case 'close_conversation':
        if (report.conversation.status === 'open') closed = await closeConversationStep(tx, admin, report.conversation, input.note)
        changed = closed !== undefined
        break
      case 'disable_user':
        if (report.sender.disabledAt === null) {
          dropped = await setDisabledStep(tx, admin, report.sender, true, input.note)
          changed = true
        }
        break
    }
    await tx.markResolved(report.id, admin.userId, input.action, input.note)
    await tx.record(
      auditRecord(admin, 'report.resolved', report.id, input.note, {
        action: input.action,
        changed,
        messageId: report.message.id,
        conversationId: report.conversation.id,
        senderId: report.sender.id,
        reporterId: report.reporterId,
      }),
    )
    return { report: await tx.report(report.id), hidden, closed, dropped }
  })
  if (outcome.hidden) await announceHidden(ports, outcome.hidden)
  if (outcome.closed) await announceClosed(ports, outcome.closed, input.note)
  await disconnectAll(ports, outcome.dropped)
  return outcome.report
}
