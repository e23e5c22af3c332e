import { Alert, Button, CircularProgress, Dialog, DialogActions, DialogContent, DialogContentText, DialogTitle, TextField } from '@mui/material'
import { useState, type ReactNode } from 'react'
import { useNotify, useRefresh } from 'react-admin'

export interface ActionDialogProps {
  /** The button that opens the dialog, and the dialog's title. */
  label: string
  title: string
  description: ReactNode
  /** Extra fields above the reason (a trainer or role picker). */
  children?: ReactNode
  reason: 'required' | 'optional' | 'none'
  confirmLabel: string
  /** False while the extra fields are incomplete. */
  ready?: boolean
  color?: 'primary' | 'error'
  run: (reason: string) => Promise<unknown>
  done: string
}

/**
 * Every change an admin makes goes through one of these: a reason (the audit log keeps it), a
 * confirmation, a spinner while the request runs, and the API's refusal shown in its own words.
 */
export function ActionDialog(props: ActionDialogProps) {
  const [open, setOpen] = useState(false)
  const [reason, setReason] = useState('')
  const [pending, setPending] = useState(false)
  const [error, setError] = useState<string | undefined>()
  const notify = useNotify()
  const refresh = useRefresh()
  const trimmed = reason.trim()
  const canConfirm = !pending && (props.ready ?? true) && (props.reason !== 'required' || trimmed.length > 0) && trimmed.length <= 500

  const close = () => {
    if (pending) return
    setOpen(false)
    setError(undefined)
    setReason('')
  }
  const confirm = async () => {
    setPending(true)
    setError(undefined)
    try {
      await props.run(trimmed)
      setOpen(false)
      setReason('')
      notify(props.done, { type: 'success' })
      refresh()
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure))
    } finally {
      setPending(false)
    }
  }
  const titleId = `dialog-${props.label.replace(/\W+/g, '-').toLowerCase()}`
  return (
    <>
      <Button variant="outlined" size="small" color={props.color ?? 'primary'} onClick={() => setOpen(true)}>
        {props.label}
      </Button>
      <Dialog open={open} onClose={close} aria-labelledby={titleId} fullWidth maxWidth="sm">
        <DialogTitle id={titleId}>{props.title}</DialogTitle>
        <DialogContent>
          <DialogContentText component="div" sx={{ mb: 2 }}>
            {props.description}
          </DialogContentText>
          {props.children}
          {props.reason !== 'none' && (
            <TextField
              label={props.reason === 'required' ? 'Reason' : 'Reason (optional)'}
              value={reason}
              onChange={(event) => setReason(event.target.value)}
              required={props.reason === 'required'}
              fullWidth
              multiline
              minRows={2}
              margin="dense"
              helperText={`${trimmed.length}/500, kept in the audit log`}
              error={trimmed.length > 500}
              disabled={pending}
            />
          )}
          {error && (
            <Alert severity="error" role="alert" sx={{ mt: 2 }}>
              {error}
            </Alert>
          )}
        </DialogContent>
        <DialogActions>
          <Button onClick={close} disabled={pending}>
            Cancel
          </Button>
          <Button
            onClick={confirm}
            disabled={!canConfirm}
            variant="contained"
            color={props.color ?? 'primary'}
            startIcon={pending ? <CircularProgress size={16} aria-label="Working" /> : undefined}
          >
            {props.confirmLabel}
          </Button>
        </DialogActions>
      </Dialog>
    </>
  )
}
