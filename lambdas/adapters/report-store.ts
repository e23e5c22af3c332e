import { sql, type Kysely } from 'kysely'
import * as z from 'zod/mini'
import type { UserRef } from '../core/admin/model.ts'
import type { Verdict } from '../core/ports.ts'
import {
  REPORT_REASONS,
  REPORT_STATUSES,
  type AdminReport,
  type Report,
  type ReportAction,
  type ReportState,
  type ReportStore,
  type ReportTransaction,
} from '../core/reports.ts'
import {
  adminMessageJson,
  conversationColumns,
  conversationParticipants,
  createAdminStore,
  createAdminTransaction,
  isoOrNull,
  preciseIso,
  toAdminMessage,
  toConversation,
  type AdminMessageJson,
  type ConversationRow,
} from './admin-store.ts'
import { adminTransaction } from './admin-transaction.ts'
import type { Database } from './database-schema.ts'
import { paginate, participantAccess, single, toIso } from './sql-fragments.ts'
import { callerFromIdentity } from './users-upsert.ts'

/**
 * Reports on Postgres. Filing is one statement (the participant rule of history decides, through
 * the message's conversation); the admin side runs in the admin store's SERIALIZABLE
 * transactions with the admin statements beside the report ones, so a resolution's action is
 * the admin route's own statement.
 */
export function createReportStore(db: Kysely<Database>): ReportStore {
  const admin = createAdminStore(db)
  return {
    async file(identity, input) {
      // The partial unique index (one open report per user and message) settles a race between
      // two identical reports: the second inserts nothing and is told it already reported.
      const { rows } = await sql<{
        verdict: Verdict
        own_message: boolean | null
        message_removed: boolean | null
        open_report_id: string | null
        report: unknown
      }>`
        WITH ${callerFromIdentity(identity)},
        msg AS (SELECT m.id, m.conversation_id, m.sender_id, m.hidden_at FROM messages m WHERE m.id = ${input.messageId}),
        ${participantAccess(sql`(SELECT conversation_id FROM msg)`)},
        existing AS (
          SELECT r.id FROM reports r JOIN access a ON r.reporter_id = a.user_id
          WHERE r.message_id = ${input.messageId} AND r.status = 'open'
        ),
        inserted AS (
          INSERT INTO reports (message_id, reporter_id, reason, note)
          SELECT msg.id, a.user_id, ${input.reason}, ${input.note} FROM msg, access a
          WHERE a.verdict IN ('ok', 'closed') AND msg.sender_id <> a.user_id AND msg.hidden_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM existing)
          ON CONFLICT (message_id, reporter_id) WHERE status = 'open' DO NOTHING
          RETURNING *
        )
        SELECT a.verdict, msg.sender_id = a.user_id AS own_message, msg.hidden_at IS NOT NULL AS message_removed,
          (SELECT id FROM existing LIMIT 1) AS open_report_id,
          (SELECT ${reportJson('i', 'msg.conversation_id')} FROM inserted i) AS report
        FROM access a LEFT JOIN msg ON true`.execute(db)
      const row = single(rows)
      return {
        verdict: row.verdict,
        ownMessage: row.own_message === true,
        messageRemoved: row.message_removed === true,
        openReportId: row.open_report_id,
        report: row.report === null ? null : toReport(row.report),
      }
    },

    transaction: (identity, work) =>
      adminTransaction(db, identity, (trx) => ({ ...createAdminTransaction(trx), ...createReportStatements(trx) }), work),

    forgetConnections: (connectionIds, options) => admin.forgetConnections(connectionIds, options),
  }
}

/** A report's JSON as the statements build it (reportJson): the Report, with createdAt as PostgreSQL renders it. */
const ReportJson = z.object({
  id: z.string(),
  messageId: z.string(),
  conversationId: z.string(),
  reason: z.enum(REPORT_REASONS),
  note: z.nullable(z.string()),
  status: z.enum(REPORT_STATUSES),
  createdAt: z.string(),
})
type ReportJson = z.infer<typeof ReportJson>

/** A report row (aliased `alias`) as its reporter sees it. */
function reportJson(alias: string, conversationId: string) {
  const r = sql.ref(alias)
  return sql`json_build_object(
    'id', ${r}.id, 'messageId', ${r}.message_id, 'conversationId', ${sql.raw(conversationId)}, 'reason', ${r}.reason,
    'note', ${r}.note, 'status', ${r}.status, 'createdAt', ${r}.created_at)`
}

function toReport(json: unknown): Report {
  const report = ReportJson.parse(json)
  return { ...report, createdAt: toIso(report.createdAt) }
}

interface AdminReportRow extends ReportJson {
  reporter: UserRef
  message: AdminMessageJson
  conversation: ConversationRow
  resolvedAt: string | null
  resolvedBy: UserRef | null
  resolution: ReportAction | null
  resolutionNote: string | null
  sortAt: string
}

/**
 * A report `r` as moderators see it, as JSON: the message `p` with what only moderators see, its
 * conversation with both participants, the reporter and who resolved it. Each is looked up by
 * primary key, once per page row.
 */
const adminReportJson = sql`json_build_object(
  'id', r.id, 'messageId', r.message_id, 'conversationId', p.conversation_id, 'reason', r.reason, 'note', r.note,
  'status', r.status, 'createdAt', r.created_at, 'resolvedAt', r.resolved_at, 'resolution', r.resolution,
  'resolutionNote', r.resolution_note, 'sortAt', ${preciseIso(sql`r.created_at`)},
  'reporter', (SELECT json_build_object('id', u.id, 'email', u.email, 'displayName', u.display_name) FROM users u WHERE u.id = r.reporter_id),
  'resolvedBy', (SELECT json_build_object('id', u.id, 'email', u.email, 'displayName', u.display_name) FROM users u WHERE u.id = r.resolved_by),
  'message', ${adminMessageJson},
  'conversation', (SELECT row_to_json(x) FROM (
    SELECT ${conversationColumns} FROM conversations cv ${conversationParticipants} WHERE cv.id = p.conversation_id) x))`

function toAdminReport(row: AdminReportRow): AdminReport {
  return {
    id: row.id,
    messageId: row.messageId,
    conversationId: row.conversationId,
    reason: row.reason,
    note: row.note,
    status: row.status,
    createdAt: toIso(row.createdAt),
    reporter: row.reporter,
    message: toAdminMessage(row.message),
    conversation: toConversation(row.conversation),
    resolvedAt: isoOrNull(row.resolvedAt),
    resolvedBy: row.resolvedBy,
    resolution: row.resolution,
    resolutionNote: row.resolutionNote,
  }
}

type ReportStatements = Pick<ReportTransaction, 'listReports' | 'loadReport' | 'markResolved' | 'report'>

function createReportStatements(trx: Kysely<Database>): ReportStatements {
  return {
    async listReports(filter) {
      const { rows } = await sql<{ id: string; report: AdminReportRow }>`
        SELECT r.id, ${adminReportJson} AS report
        FROM reports r JOIN messages p ON p.id = r.message_id
        WHERE true
          ${filter.status ? sql`AND r.status = ${filter.status}` : sql``}
          ${filter.after ? sql`AND (r.created_at, r.id) < (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)` : sql``}
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT ${filter.limit + 1}`.execute(trx)
      return paginate(
        rows,
        filter.limit,
        (row) => toAdminReport(row.report),
        (row) => ({ at: row.report.sortAt, id: row.id }),
      )
    },

    async loadReport(reportId) {
      const row = await trx
        .selectFrom('reports as r')
        .innerJoin('messages as p', 'p.id', 'r.message_id')
        .innerJoin('users as s', 's.id', 'p.sender_id')
        .innerJoin('conversations as cv', 'cv.id', 'p.conversation_id')
        .select([
          'r.id',
          'r.status',
          'r.reporter_id',
          'p.id as message_id',
          'p.hidden_at',
          'p.sender_id',
          's.role as sender_role',
          's.disabled_at as sender_disabled_at',
          'cv.id as conversation_id',
          'cv.member_id',
          'cv.trainer_id',
          'cv.status as conversation_status',
        ])
        .where('r.id', '=', reportId)
        .executeTakeFirst()
      if (!row) return null
      const report: ReportState = {
        id: row.id,
        status: row.status,
        reporterId: row.reporter_id,
        message: { id: row.message_id, hidden: row.hidden_at !== null, senderId: row.sender_id },
        conversation: { id: row.conversation_id, memberId: row.member_id, trainerId: row.trainer_id, status: row.conversation_status },
        sender: { id: row.sender_id, role: row.sender_role, disabledAt: isoOrNull(row.sender_disabled_at) },
      }
      return report
    },

    async markResolved(reportId, resolvedBy, action, note) {
      await trx
        .updateTable('reports')
        .set({ status: 'resolved', resolved_at: sql`now()`, resolved_by: resolvedBy, resolution: action, resolution_note: note })
        .where('id', '=', reportId)
        .execute()
    },

    async report(reportId) {
      const { rows } = await sql<{ report: AdminReportRow }>`
        SELECT ${adminReportJson} AS report FROM reports r JOIN messages p ON p.id = r.message_id WHERE r.id = ${reportId}`.execute(trx)
      return toAdminReport(single(rows).report)
    },
  }
}
