import type { ErrorCode } from '@trainer-chat/protocol'

/**
 * A refusal the app should see: a protocol error code from the server (`forbidden`,
 * `conversation_closed`, ...) or one of the client's own (`client_closed`, `upload_failed`).
 */
export type ClientErrorCode = ErrorCode | 'client_closed' | 'upload_failed'

export class ChatClientError extends Error {
  override readonly name = 'ChatClientError'
  readonly code: ClientErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ClientErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.code = code
    this.details = details
  }
}

/** Codes a request is retried on (after a delay); every other error code is final. */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set(['internal', 'unavailable', 'rate_limited', 'unauthorized'])
