import { Box, Chip, Stack, Typography } from '@mui/material'
import { Datagrid, DateField, FunctionField, Link, List, SelectInput, useDataProvider, useRecordContext } from 'react-admin'
import { ActionDialog } from '../ActionDialog.tsx'
import type { ConsoleDataProvider } from '../dataProvider.ts'
import { CursorPagination } from '../Layout.tsx'
import type { AdminReport, ReportAction } from '../types.ts'

const filters = [
  <SelectInput
    key="status"
    source="status"
    label="Status"
    choices={[
      { id: 'open', name: 'open' },
      { id: 'resolved', name: 'resolved' },
    ]}
    alwaysOn
  />,
]

const RESOLUTIONS: Array<{ action: ReportAction; label: string; description: (r: AdminReport) => string; color: 'primary' | 'error' }> = [
  {
    action: 'dismiss',
    label: 'Dismiss',
    description: () => 'The report is closed with your note; nothing else changes.',
    color: 'primary',
  },
  {
    action: 'hide_message',
    label: 'Hide message',
    description: () => 'Participants see the message as removed from now on (your note is the reason); admins keep the original.',
    color: 'error',
  },
  {
    action: 'close_conversation',
    label: 'Close conversation',
    description: (r) =>
      `${r.conversation.member.displayName} and ${r.conversation.trainer.displayName} can no longer send messages; both are told with your note as the reason.`,
    color: 'error',
  },
  {
    action: 'disable_user',
    label: 'Disable sender',
    description: (r) => `${senderOf(r).displayName} <${senderOf(r).email}> is signed out and refused everywhere until an admin enables the account again.`,
    color: 'error',
  },
]

function senderOf(report: AdminReport) {
  return report.message.senderId === report.conversation.member.id ? report.conversation.member : report.conversation.trainer
}

/** The reported message as moderators see it (original body even when removed), with a link to it in its conversation. */
function ReportedMessage() {
  const report = useRecordContext<AdminReport>()
  if (!report) return null
  const { message } = report
  return (
    <Box sx={{ maxWidth: 420 }}>
      <Typography variant="caption" color="text.secondary" component="p">
        {senderOf(report).displayName} · #{message.seq} · {new Date(message.createdAt).toLocaleString()}
      </Typography>
      <Typography sx={{ whiteSpace: 'pre-wrap', ...(message.removed ? { textDecoration: 'line-through', color: 'text.secondary' } : {}) }}>
        {message.body || <em>(no text)</em>}
      </Typography>
      <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
        {message.removed && <Chip size="small" color="error" variant="outlined" label="removed" />}
        <Link to={`/conversations/${report.conversationId}/show`}>In its conversation ({report.conversation.status})</Link>
      </Stack>
    </Box>
  )
}

function Resolution() {
  const report = useRecordContext<AdminReport>()
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  if (!report) return null
  if (report.status === 'resolved') {
    return (
      <Typography variant="body2">
        {report.resolution} by {report.resolvedBy?.email ?? 'unknown'} on {new Date(report.resolvedAt ?? '').toLocaleString()}: {report.resolutionNote}
      </Typography>
    )
  }
  return (
    <Stack direction="row" spacing={0.5} sx={{ flexWrap: 'wrap' }} role="group" aria-label={`Resolve the report of message ${report.message.seq}`}>
      {RESOLUTIONS.map((resolution) => (
        <ActionDialog
          key={resolution.action}
          label={resolution.label}
          title={`${resolution.label}: resolve this report?`}
          description={resolution.description(report)}
          reason="required"
          confirmLabel={resolution.label}
          color={resolution.color}
          run={(note) => dataProvider.resolveReport(report.id, resolution.action, note)}
          done="Report resolved"
        />
      ))}
    </Stack>
  )
}

/** The moderation queue: newest first, open ones by default, each resolved with an action and a note. */
export function ReportList() {
  return (
    <List
      filters={filters}
      filterDefaultValues={{ status: 'open' }}
      sort={{ field: 'createdAt', order: 'DESC' }}
      pagination={<CursorPagination />}
      perPage={25}
      title="Reports"
      exporter={false}
    >
      <Datagrid bulkActionButtons={false} rowClick={false}>
        <DateField source="createdAt" label="Reported ↓" showTime sortable={false} />
        <FunctionField label="Reporter" sortable={false} render={(r: AdminReport) => r.reporter.email} />
        <FunctionField
          label="Reason"
          sortable={false}
          render={(r: AdminReport) => (
            <>
              <Chip size="small" label={r.reason} />
              {r.note && <Typography variant="body2">{r.note}</Typography>}
            </>
          )}
        />
        <FunctionField label="Message" sortable={false} render={() => <ReportedMessage />} />
        <FunctionField label="Resolution" sortable={false} render={() => <Resolution />} />
      </Datagrid>
    </List>
  )
}
