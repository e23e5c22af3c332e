import { Alert, Card, CardContent, Grid, Typography } from '@mui/material'
import { useEffect, useState } from 'react'
import { Loading, Title, useDataProvider, usePermissions } from 'react-admin'
import type { ConsoleDataProvider } from '../dataProvider.ts'
import type { AdminUser, Conversation } from '../types.ts'
import { AdminsOnly } from './AdminsOnly.tsx'

interface Stats {
  open: string
  closed: string
  messages24h: string
  reports: string
  unassigned: string
}

const DAY_MS = 24 * 60 * 60 * 1000

/**
 * The API has no statistics route yet: the counts come from walking the lists (up to MAX_SCAN
 * rows each, shown as "2000+" beyond), and messages in the last 24 hours from the histories of the
 * conversations active in that window.
 */
async function loadStats(dataProvider: ConsoleDataProvider): Promise<Stats> {
  const count = ({ rows, complete }: { rows: unknown[]; complete: boolean }) => `${rows.length}${complete ? '' : '+'}`
  const since = Date.now() - DAY_MS
  const [open, closed, members, reports] = await Promise.all([
    dataProvider.scan<Conversation>('conversations', { status: 'open' }),
    dataProvider.scan<Conversation>('conversations', { status: 'closed' }),
    dataProvider.scan<AdminUser>('users', { role: 'user' }),
    dataProvider.scan('reports', { status: 'open' }),
  ])
  const active = [...open.rows, ...closed.rows].filter((c) => c.lastMessageAt && Date.parse(c.lastMessageAt) >= since)
  const histories = await Promise.all(active.map((c) => dataProvider.history(c.id)))
  const recent = histories.flat().filter((m) => Date.parse(m.createdAt) >= since).length
  return {
    open: count(open),
    closed: count(closed),
    messages24h: String(recent),
    reports: count(reports),
    unassigned: count({ rows: members.rows.filter((u) => u.trainer === null), complete: members.complete }),
  }
}

export function Dashboard() {
  const { permissions, isPending } = usePermissions()
  const dataProvider = useDataProvider<ConsoleDataProvider>()
  const [stats, setStats] = useState<Stats | undefined>()
  const [error, setError] = useState<string | undefined>()
  useEffect(() => {
    if (permissions !== 'admin') return
    loadStats(dataProvider).then(setStats, (failure: unknown) => setError(failure instanceof Error ? failure.message : String(failure)))
  }, [permissions, dataProvider])

  if (isPending) return <Loading />
  if (permissions !== 'admin') return <AdminsOnly />
  const cards: Array<[string, keyof Stats]> = [
    ['Open conversations', 'open'],
    ['Closed conversations', 'closed'],
    ['Messages in the last 24 hours', 'messages24h'],
    ['Open reports', 'reports'],
    ['Members without a trainer', 'unassigned'],
  ]
  return (
    <>
      <Title title="Dashboard" />
      <Typography variant="h5" component="h1" sx={{ mt: 2, mb: 2 }}>
        Dashboard
      </Typography>
      {error && <Alert severity="error">{error}</Alert>}
      {!stats && !error && <Loading loadingPrimary="Counting" loadingSecondary="Walking the lists" />}
      {stats && (
        <Grid container spacing={2}>
          {cards.map(([label, key]) => (
            <Grid key={key} size={{ xs: 12, sm: 6, md: 4 }}>
              <Card component="section" aria-label={label}>
                <CardContent>
                  <Typography color="text.secondary" component="h2" variant="subtitle1">
                    {label}
                  </Typography>
                  <Typography variant="h4" component="p" data-stat={key}>
                    {stats[key]}
                  </Typography>
                </CardContent>
              </Card>
            </Grid>
          ))}
        </Grid>
      )}
    </>
  )
}
