import { Box, Button, Typography } from '@mui/material'
import type { ReactNode } from 'react'
import { AppBar, Layout, UserMenu, useGetIdentity, useListContext } from 'react-admin'

/** The user menu's accessible name is the name it shows (react-admin's default says "Profile"). */
function ConsoleUserMenu() {
  const { identity } = useGetIdentity()
  return <UserMenu label={identity?.fullName ?? 'Profile'} />
}

const ConsoleAppBar = () => <AppBar userMenu={<ConsoleUserMenu />} />

export const ConsoleLayout = ({ children }: { children: ReactNode }) => <Layout appBar={ConsoleAppBar}>{children}</Layout>

/**
 * Previous / next over the API's keyset cursors: there is no total to show, only whether another
 * page exists (or, for lists filtered in the browser, the count of matches).
 */
export function CursorPagination() {
  const { page, perPage, setPage, hasNextPage, hasPreviousPage, total, data, isPending } = useListContext()
  if (isPending) return null
  const shown = data?.length ?? 0
  const first = shown === 0 ? 0 : (page - 1) * perPage + 1
  const more = total !== undefined ? page * perPage < total : hasNextPage === true
  const less = total !== undefined ? page > 1 : hasPreviousPage === true
  return (
    <Box component="nav" aria-label="Pages" sx={{ display: 'flex', alignItems: 'center', justifyContent: 'flex-end', gap: 2, p: 1 }}>
      <Typography variant="body2">
        {shown === 0 ? 'No rows' : `Rows ${first}–${first + shown - 1}${total !== undefined ? ` of ${total}` : ''}`} · page {page}
      </Typography>
      <Button size="small" disabled={!less} onClick={() => setPage(page - 1)}>
        Previous page
      </Button>
      <Button size="small" disabled={!more} onClick={() => setPage(page + 1)}>
        Next page
      </Button>
    </Box>
  )
}
