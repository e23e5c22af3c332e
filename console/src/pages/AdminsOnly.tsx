import { Alert, Button, Card, CardContent, Typography } from '@mui/material'
import { useGetIdentity, useLogout, usePermissions } from 'react-admin'

/** What a member or trainer sees: nothing of the console (the API refuses them anyway). */
export function AdminsOnly() {
  const { identity } = useGetIdentity()
  const { permissions } = usePermissions()
  const logout = useLogout()
  return (
    <Card sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="h5" component="h1" gutterBottom>
          Admins only
        </Typography>
        <Alert severity="warning" sx={{ mb: 2 }}>
          This console is for admins. {identity?.fullName ?? 'You'} signed in as {String(permissions ?? 'a non-admin')}, so there is
          nothing here for you.
        </Alert>
        <Button variant="contained" onClick={() => logout()}>
          Sign out
        </Button>
      </CardContent>
    </Card>
  )
}
