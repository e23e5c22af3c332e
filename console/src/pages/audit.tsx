import { CursorPagination } from '../Layout.tsx'
import { Datagrid, DateField, FunctionField, Link, List, SelectInput, TextField, TextInput } from 'react-admin'
import { AUDIT_ACTIONS, type AuditEntry } from '../types.ts'

const filters = [
  <TextInput key="actor" source="actor" label="Actor (email)" alwaysOn />,
  <SelectInput key="action" source="action" label="Action" choices={AUDIT_ACTIONS.map((a) => ({ id: a, name: a }))} alwaysOn />,
  <SelectInput
    key="targetType"
    source="targetType"
    label="Target type"
    choices={['conversation', 'message', 'user', 'report'].map((t) => ({ id: t, name: t }))}
    alwaysOn
  />,
  <TextInput key="targetId" source="targetId" label="Target id" alwaysOn />,
]

/** Where an entry's target lives in the console (a message, or a report of one, is shown in its conversation). */
function targetLink(entry: AuditEntry): { to: string; label: string } | undefined {
  if (entry.targetType === 'conversation') return { to: `/conversations/${entry.targetId}/show`, label: `conversation ${entry.targetId.slice(0, 8)}` }
  if (entry.targetType === 'user') return { to: `/users/${entry.targetId}/show`, label: `user ${entry.targetId.slice(0, 8)}` }
  const conversationId = entry.details.conversationId
  if (typeof conversationId === 'string') return { to: `/conversations/${conversationId}/show`, label: `${entry.targetType} ${entry.targetId.slice(0, 8)}` }
  return undefined
}

export function AuditList() {
  return (
    <List filters={filters} sort={{ field: 'createdAt', order: 'DESC' }} pagination={<CursorPagination />} perPage={25} title="Audit log" exporter={false}>
      <Datagrid bulkActionButtons={false} rowClick={false}>
        <DateField source="createdAt" label="When ↓" showTime sortable={false} />
        <FunctionField label="Actor" sortable={false} render={(e: AuditEntry) => e.actor.email} />
        <TextField source="action" sortable={false} />
        <FunctionField
          label="Target"
          sortable={false}
          render={(e: AuditEntry) => {
            const link = targetLink(e)
            return link ? <Link to={link.to}>{link.label}</Link> : `${e.targetType} ${e.targetId}`
          }}
        />
        <TextField source="reason" sortable={false} emptyText="—" />
        <FunctionField
          label="Details"
          sortable={false}
          render={(e: AuditEntry) => <code style={{ fontSize: '0.75rem', wordBreak: 'break-all' }}>{JSON.stringify(e.details)}</code>}
        />
      </Datagrid>
    </List>
  )
}
