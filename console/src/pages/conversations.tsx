import { CursorPagination } from '../Layout.tsx'
import { Alert, Box, Card, CardContent, Chip, Stack, Typography } from '@mui/material'
import {
  AutocompleteInput,
  Datagrid,
  DateField,
  FunctionField,
  List,
  NumberField,
  ReferenceInput,
  SelectInput,
  Show,
  SimpleShowLayout,
  TextField,
  useDataProvider,
  useGetList,
  useRecordContext,
} from 'react-admin'
import { ActionDialog } from '../ActionDialog.tsx'
import type { ConsoleDataProvider } from '../dataProvider.ts'
import type { AdminMessage, Conversation } from '../types.ts'

const person = (p: { displayName: string; email: string }) => `${p.displayName} <${p.email}>`

export const StatusChip = ({ status }: { status: Conversation['status'] }) => (
  <Chip size="small" label={status} color={status === 'open' ? 'success' : 'default'} variant={status === 'open' ? 'filled' : 'outlined'} />
)

const filters = [
  <SelectInput key="status" source="status" label="Status" choices={[{ id: 'open', name: 'open' }, { id: 'closed', name: 'closed' }]} alwaysOn />,
  <ReferenceInput key="trainer" source="trainerId" reference="users" filter={{ role: 'trainer' }} alwaysOn>
    <AutocompleteInput label="Trainer" optionText="email" filterToQuery={(q) => ({ q })} />
  </ReferenceInput>,
  <ReferenceInput key="member" source="userId" reference="users" filter={{ role: 'user' }} alwaysOn>
    <AutocompleteInput label="Member" optionText="email" filterToQuery={(q) => ({ q })} />
  </ReferenceInput>,
]

/** Ordered by last activity, most recent first: the API's one order (its activity index). */
export function ConversationList() {
  return (
    <List filters={filters} sort={{ field: 'updatedAt', order: 'DESC' }} pagination={<CursorPagination />} perPage={25} title="Conversations" exporter={false}>
      <Datagrid rowClick="show" bulkActionButtons={false}>
        <FunctionField label="Member" sortable={false} render={(c: Conversation) => person(c.member)} />
        <FunctionField label="Trainer" sortable={false} render={(c: Conversation) => person(c.trainer)} />
        <FunctionField label="Status" sortable={false} render={(c: Conversation) => <StatusChip status={c.status} />} />
        <NumberField source="messageCount" label="Messages" sortable={false} />
        <DateField source="lastMessageAt" label="Last message" showTime sortable={false} emptyText="none" />
        <DateField source="updatedAt" label="Last activity ↓" showTime sortable={false} />
      </Datagrid>
    </List>
  )
}

function ConversationActions() {
  const record = useRecordContext<Conversation>()
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  if (!record) return null
  return record.status === 'open' ? (
    <ActionDialog
      label="Close conversation"
      title="Close this conversation?"
      description={`${record.member.displayName} and ${record.trainer.displayName} can no longer send messages; both are told with your reason.`}
      reason="required"
      confirmLabel="Close"
      color="primary"
      run={(reason) => dataProvider.closeConversation(record.id, reason)}
      done="Conversation closed"
    />
  ) : (
    <ActionDialog
      label="Reopen conversation"
      title="Reopen this conversation?"
      description="Both participants can send messages again. They get no notice; they see it open on their next refresh."
      reason="none"
      confirmLabel="Reopen"
      run={() => dataProvider.reopenConversation(record.id)}
      done="Conversation reopened"
    />
  )
}

function MessageItem({ message, conversation }: { message: AdminMessage; conversation: Conversation }) {
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  const sender = message.senderId === conversation.member.id ? conversation.member : conversation.trainer
  return (
    <Box component="li" sx={{ py: 1.5, borderBottom: '1px solid #e0e0e0', listStyle: 'none' }} aria-label={`Message ${message.seq}`}>
      <Stack direction="row" spacing={1} sx={{ mb: 0.5, alignItems: 'center' }}>
        <Typography variant="subtitle2" component="span">
          {sender.displayName}
        </Typography>
        <Typography variant="caption" component="span" color="text.secondary">
          #{message.seq} · {new Date(message.createdAt).toLocaleString()}
          {message.readAt ? ' · read' : ''}
        </Typography>
        {message.removed && <Chip size="small" color="error" variant="outlined" label="removed" />}
      </Stack>
      <Typography sx={{ whiteSpace: 'pre-wrap', ...(message.removed ? { textDecoration: 'line-through', color: 'text.secondary' } : {}) }}>
        {message.body || <em>(no text)</em>}
      </Typography>
      {message.attachment && (
        <Typography variant="body2" color="text.secondary">
          Attachment: {message.attachment.fileName} ({message.attachment.contentType}, {message.attachment.size} bytes)
        </Typography>
      )}
      {message.removed ? (
        <Typography variant="body2" color="text.secondary">
          {message.hiddenBy
            ? `Hidden by ${message.hiddenBy.displayName} on ${new Date(message.hiddenAt ?? '').toLocaleString()}: ${message.hiddenReason ?? ''}`
            : 'Deleted by its sender'}
        </Typography>
      ) : (
        <Box sx={{ mt: 0.5 }}>
          <ActionDialog
            label={`Hide message ${message.seq}`}
            title="Hide this message?"
            description="Participants see it as removed from now on; admins keep seeing the original with your reason."
            reason="required"
            confirmLabel="Hide"
            color="error"
            run={(reason) => dataProvider.hideMessage(message.id, reason)}
            done="Message hidden"
          />
        </Box>
      )}
    </Box>
  )
}

/** The full history as admins see it, refreshed every few seconds while the page is open. */
function History() {
  const conversation = useRecordContext<Conversation>()
  const { data, isPending, error } = useGetList<AdminMessage>(
    'messages',
    { filter: { conversationId: conversation?.id }, pagination: { page: 1, perPage: 1000 } },
    { enabled: !!conversation, refetchInterval: 3000 },
  )
  if (!conversation) return null
  if (error) return <Alert severity="error">{error instanceof Error ? error.message : String(error)}</Alert>
  if (isPending) return <Typography>Loading history…</Typography>
  return (
    <Box component="section" aria-label="History">
      <Typography variant="h6" component="h2" sx={{ mt: 2 }}>
        History ({data?.length ?? 0} messages, refreshed every 3 s)
      </Typography>
      {data && data.length > 0 ? (
        <Box component="ul" sx={{ p: 0, m: 0 }}>
          {data.map((message) => (
            <MessageItem key={message.id} message={message} conversation={conversation} />
          ))}
        </Box>
      ) : (
        <Typography color="text.secondary">No messages yet.</Typography>
      )}
    </Box>
  )
}

export function ConversationShow() {
  return (
    <Show title="Conversation" actions={false}>
      <Card elevation={0}>
        <CardContent>
          <SimpleShowLayout>
            <FunctionField label="Member" render={(c: Conversation) => person(c.member)} />
            <FunctionField label="Trainer" render={(c: Conversation) => person(c.trainer)} />
            <FunctionField label="Status" render={(c: Conversation) => <StatusChip status={c.status} />} />
            <FunctionField
              label="Closed"
              render={(c: Conversation) => (c.closedAt ? `${new Date(c.closedAt).toLocaleString()}: ${c.closedReason ?? ''}` : 'no')}
            />
            <TextField source="id" label="Conversation id" />
          </SimpleShowLayout>
          <ConversationActions />
          <History />
        </CardContent>
      </Card>
    </Show>
  )
}
