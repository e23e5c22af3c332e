import { Box, Button, Card, CardContent, Typography } from '@mui/material'
import { useState } from 'react'
import { useLogin } from 'react-admin'

/** Nothing to type here: sign-in happens on the hosted UI (Cognito's, or the local stand-in). */
export function LoginPage() {
  const login = useLogin()
  const [error, setError] = useState<string | undefined>()
  const [pending, setPending] = useState(false)
  return (
    <Box component="main" sx={{ minHeight: '100vh', display: 'flex', alignItems: 'center', justifyContent: 'center', bgcolor: '#eef2f7' }}>
      <Card sx={{ maxWidth: 420 }}>
        <CardContent>
          <Typography variant="h5" component="h1" gutterBottom>
            trainer-chat moderation console
          </Typography>
          <Typography sx={{ mb: 2 }}>For operators. You will sign in on the user pool's sign-in page.</Typography>
          <Button
            variant="contained"
            disabled={pending}
            onClick={() => {
              setPending(true)
              login({}).catch((failure: unknown) => {
                setPending(false)
                setError(failure instanceof Error ? failure.message : String(failure))
              })
            }}
          >
            Sign in
          </Button>
          {error && (
            <Typography role="alert" color="error" sx={{ mt: 2 }}>
              {error}
            </Typography>
          )}
        </CardContent>
      </Card>
    </Box>
  )
}
