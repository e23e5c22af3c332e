import { sql, type Kysely } from 'kysely'
import type { UserRef } from '../core/admin.ts'
import type { ConversationStatus, Role } from '../core/model.ts'
import type { Verdict } from '../core/ports.ts'
import type {
  AdminReport,
  Report,
  ReportAction,
  ReportReason,
  ReportState,
  ReportStatus,
  ReportStore,
  ReportTransaction,
} from '../core/reports.ts'
import {
  actorColumns,
  adminMessageJson,
  callerIsAdmin,
  conversationColumns,
  conversationParticipants,
  createAdminStore,
  createAdminTransaction,
  isoOrNull,
  paginate,
  preciseIso,
  runSerializable,
  toActor,
  toAdminMessage,
  toConversation,
  type ActorRow,
  type AdminMessageJson,
  type ConversationRow,
  type Optional,
} from './admin-store.ts'
import { callerFromIdentity } from './app-queries.ts'
import type { Database } from './database-schema.ts'
import { participantAccess, single, toIso } from './sql-fragments.ts'

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
        report: ReportJson | null
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
        report: row.report ? toReport(row.report) : null,
      }
    },

    transaction: (work) =>
      runSerializable(db, (trx) => work({ ...createAdminTransaction(trx), ...createReportStatements(trx) })),

    forgetConnections: (connectionIds, options) => admin.forgetConnections(connectionIds, options),
  }
}

/** A report's JSON as the statements build it (reportJson): the Report, with createdAt as PostgreSQL renders it. */
type ReportJson = Report

/** A report row (aliased `alias`) as its reporter sees it. */
function reportJson(alias: string, conversationId: string) {
  const r = sql.ref(alias)
  return sql`json_build_object(
    'id', ${r}.id, 'messageId', ${r}.message_id, 'conversationId', ${sql.raw(conversationId)}, 'reason', ${r}.reason,
    'note', ${r}.note, 'status', ${r}.status, 'createdAt', ${r}.created_at)`
}

function toReport(json: ReportJson): Report {
  return { ...json, createdAt: toIso(json.createdAt) }
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

interface ReportStateRow {
  id: string
  status: ReportStatus
  reporter_id: string
  message_id: string
  hidden: boolean
  sender_id: string
  sender_role: Role
  sender_disabled_at: Date | string | null
  conversation_id: string
  member_id: string
  trainer_id: string
  conversation_status: ConversationStatus
}

type ReportStatements = Pick<ReportTransaction, 'listReports' | 'loadReport' | 'markResolved' | 'report'>

function createReportStatements(trx: Kysely<Database>): ReportStatements {
  return {
    async listReports(identity, filter) {
      const { rows } = await sql<ActorRow & { id: string | null; report: AdminReportRow | null }>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, x.id, x.report
        FROM caller c
        LEFT JOIN LATERAL (
          SELECT r.id, r.created_at, ${adminReportJson} AS report
          FROM reports r JOIN messages p ON p.id = r.message_id
          WHERE ${callerIsAdmin}
            ${filter.status ? sql`AND r.status = ${filter.status}` : sql``}
            ${filter.after ? sql`AND (r.created_at, r.id) < (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)` : sql``}
          ORDER BY r.created_at DESC, r.id DESC
          LIMIT ${filter.limit + 1}
        ) x ON true
        ORDER BY x.created_at DESC, x.id DESC`.execute(trx)
      const present = rows as Array<ActorRow & Optional<{ id: string; report: AdminReportRow }>>
      return {
        actor: toActor(single(rows)),
        ...paginate(
          present,
          filter.limit,
          (row) => toAdminReport(row.report),
          (row) => ({ at: row.report.sortAt, id: row.id }),
        ),
      }
    },

    async loadReport(identity, reportId) {
      const { rows } = await sql<ActorRow & Optional<ReportStateRow>>`
        WITH ${callerFromIdentity(identity)}
        SELECT ${actorColumns}, r.id, r.status, r.reporter_id, p.id AS message_id, p.hidden_at IS NOT NULL AS hidden,
          p.sender_id, s.role AS sender_role, s.disabled_at AS sender_disabled_at,
          cv.id AS conversation_id, cv.member_id, cv.trainer_id, cv.status AS conversation_status
        FROM caller c
        LEFT JOIN reports r ON r.id = ${reportId}
        LEFT JOIN messages p ON p.id = r.message_id
        LEFT JOIN users s ON s.id = p.sender_id
        LEFT JOIN conversations cv ON cv.id = p.conversation_id`.execute(trx)
      const row = single(rows)
      const actor = toActor(row)
      if (row.id === null) return { actor, report: null }
      const state = row as ActorRow & ReportStateRow
      const report: ReportState = {
        id: state.id,
        status: state.status,
        reporterId: state.reporter_id,
        message: { id: state.message_id, hidden: state.hidden, senderId: state.sender_id },
        conversation: { id: state.conversation_id, memberId: state.member_id, trainerId: state.trainer_id, status: state.conversation_status },
        sender: { id: state.sender_id, role: state.sender_role, disabledAt: isoOrNull(state.sender_disabled_at) },
      }
      return { actor, report }
    },

    async markResolved(reportId, resolvedBy, action, note) {
      await sql`
        UPDATE reports SET status = 'resolved', resolved_at = now(), resolved_by = ${resolvedBy}, resolution = ${action},
          resolution_note = ${note}
        WHERE id = ${reportId}`.execute(trx)
    },

    async report(reportId) {
      const { rows } = await sql<{ report: AdminReportRow }>`
        SELECT ${adminReportJson} AS report FROM reports r JOIN messages p ON p.id = r.message_id WHERE r.id = ${reportId}`.execute(trx)
      return toAdminReport(single(rows).report)
    },
  }
}
