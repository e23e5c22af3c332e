import { CursorPagination } from '../Layout.tsx'
import { Alert, Box, Chip, FormControl, InputLabel, MenuItem, Select, Stack, Typography } from '@mui/material'
import { useState } from 'react'
import {
  Datagrid,
  DateField,
  FunctionField,
  List,
  SearchInput,
  SelectInput,
  Show,
  SimpleShowLayout,
  TextField,
  useDataProvider,
  useGetList,
  useRecordContext,
  Link,
} from 'react-admin'
import { ActionDialog } from '../ActionDialog.tsx'
import type { ConsoleDataProvider } from '../dataProvider.ts'
import type { AdminUser, Conversation, Role } from '../types.ts'
import { StatusChip } from './conversations.tsx'

const ROLES: Array<{ id: Role; name: string }> = [
  { id: 'user', name: 'member (user)' },
  { id: 'trainer', name: 'trainer' },
  { id: 'admin', name: 'admin' },
]

const filters = [
  <SearchInput key="q" source="q" placeholder="Search email" alwaysOn aria-label="Search email" />,
  <SelectInput key="role" source="role" label="Role" choices={ROLES} alwaysOn />,
]

const AccountChip = ({ user }: { user: AdminUser }) =>
  user.disabledAt ? <Chip size="small" color="error" label="disabled" /> : <Chip size="small" variant="outlined" label="enabled" />

export function UserList() {
  return (
    <List filters={filters} sort={{ field: 'email', order: 'ASC' }} pagination={<CursorPagination />} perPage={25} title="Users" exporter={false}>
      <Datagrid rowClick="show" bulkActionButtons={false}>
        <TextField source="email" sortable={false} label="Email ↑" />
        <TextField source="displayName" label="Name" sortable={false} />
        <TextField source="role" sortable={false} />
        <FunctionField label="Trainer" sortable={false} render={(u: AdminUser) => u.trainer?.email ?? '—'} />
        <FunctionField label="Account" sortable={false} render={(u: AdminUser) => <AccountChip user={u} />} />
        <DateField source="createdAt" label="Created" sortable={false} />
      </Datagrid>
    </List>
  )
}

function AssignTrainer({ user }: { user: AdminUser }) {
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  const { data: trainers, error } = useGetList<AdminUser>('users', {
    filter: { role: 'trainer', enabled: true },
    pagination: { page: 1, perPage: 100 },
  })
  const [trainerId, setTrainerId] = useState('')
  return (
    <ActionDialog
      label={user.trainer ? 'Change trainer' : 'Assign trainer'}
      title={`Trainer for ${user.displayName}`}
      description="Their open conversation with another trainer is closed (both hear why); the one with the new trainer continues or starts."
      reason="optional"
      confirmLabel="Assign"
      ready={trainerId !== ''}
      run={(reason) => dataProvider.assignTrainer(user.id, trainerId, reason)}
      done="Trainer assigned"
    >
      {error ? <Alert severity="error">{String(error)}</Alert> : null}
      <FormControl fullWidth margin="dense">
        <InputLabel id="trainer-label">Trainer</InputLabel>
        <Select labelId="trainer-label" label="Trainer" value={trainerId} onChange={(event) => setTrainerId(String(event.target.value))}>
          {(trainers ?? []).map((trainer) => (
            <MenuItem key={trainer.id} value={trainer.id} disabled={trainer.id === user.trainer?.id}>
              {trainer.displayName} &lt;{trainer.email}&gt;{trainer.id === user.trainer?.id ? ' (current)' : ''}
            </MenuItem>
          ))}
        </Select>
      </FormControl>
    </ActionDialog>
  )
}

function ChangeRole({ user }: { user: AdminUser }) {
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  const [role, setRole] = useState<Role | ''>('')
  return (
    <ActionDialog
      label="Change role"
      title={`Role of ${user.displayName}`}
      description="Applies at once: their open conversations close and their live connections are dropped."
      reason="optional"
      confirmLabel="Change role"
      color="primary"
      ready={role !== '' && role !== user.role}
      run={(reason) => dataProvider.changeRole(user.id, role as Role, reason)}
      done="Role changed"
    >
      <FormControl fullWidth margin="dense">
        <InputLabel id="role-label">New role</InputLabel>
        <Select labelId="role-label" label="New role" value={role} onChange={(event) => setRole(event.target.value as Role)}>
          {ROLES.map((choice) => (
            <MenuItem key={choice.id} value={choice.id} disabled={choice.id === user.role}>
              {choice.name}
              {choice.id === user.role ? ' (current)' : ''}
            </MenuItem>
          ))}
        </Select>
      </FormControl>
    </ActionDialog>
  )
}

function UserActions() {
  const user = useRecordContext<AdminUser>()
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  if (!user) return null
  return (
    <Stack direction="row" spacing={1} sx={{ my: 2 }}>
      {user.role === 'user' && <AssignTrainer user={user} />}
      <ChangeRole user={user} />
      {user.disabledAt ? (
        <ActionDialog
          label="Enable account"
          title={`Enable ${user.email}?`}
          description="They can sign in and connect again, picking up where they left off."
          reason="optional"
          confirmLabel="Enable"
          run={(reason) => dataProvider.setDisabled(user.id, false, reason)}
          done="Account enabled"
        />
      ) : (
        <ActionDialog
          label="Disable account"
          title={`Disable ${user.email}?`}
          description="Cuts them off at once: live connections are closed and every route refuses them until enabled."
          reason="optional"
          confirmLabel="Disable"
          color="error"
          run={(reason) => dataProvider.setDisabled(user.id, true, reason)}
          done="Account disabled"
        />
      )}
    </Stack>
  )
}

function UserConversations() {
  const user = useRecordContext<AdminUser>()
  const filter = user?.role === 'trainer' ? { trainerId: user.id } : { userId: user?.id }
  const { data, error, isPending } = useGetList<Conversation>(
    'conversations',
    { filter, pagination: { page: 1, perPage: 50 } },
    { enabled: !!user && user.role !== 'admin' },
  )
  if (!user || user.role === 'admin') return null
  return (
    <Box component="section" aria-label="Their conversations">
      <Typography variant="h6" component="h2">
        Conversations
      </Typography>
      {error ? <Alert severity="error">{error instanceof Error ? error.message : String(error)}</Alert> : null}
      {isPending ? <Typography>Loading…</Typography> : null}
      {data && data.length === 0 ? <Typography color="text.secondary">None.</Typography> : null}
      <Box component="ul" sx={{ pl: 2 }}>
        {(data ?? []).map((c) => (
          <li key={c.id}>
            <Link to={`/conversations/${c.id}/show`}>
              {c.member.displayName} ↔ {c.trainer.displayName}
            </Link>{' '}
            <StatusChip status={c.status} /> {c.messageCount} messages
          </li>
        ))}
      </Box>
    </Box>
  )
}

export function UserShow() {
  return (
    <Show title="User" actions={false}>
      <SimpleShowLayout>
        <TextField source="email" />
        <TextField source="displayName" label="Name" />
        <TextField source="role" />
        <FunctionField label="Trainer" render={(u: AdminUser) => (u.trainer ? `${u.trainer.displayName} <${u.trainer.email}>` : '—')} />
        <FunctionField
          label="Account"
          render={(u: AdminUser) => (u.disabledAt ? `disabled since ${new Date(u.disabledAt).toLocaleString()}` : 'enabled')}
        />
        <DateField source="createdAt" label="Created" showTime />
        <TextField source="id" label="User id" />
      </SimpleShowLayout>
      <Box sx={{ px: 2, pb: 2 }}>
        <UserActions />
        <UserConversations />
      </Box>
    </Show>
  )
}
