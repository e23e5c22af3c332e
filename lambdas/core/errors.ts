/**
 * One error family for everything the product refuses on purpose. Each carries the protocol
 * code the client sees; the HTTP status is derived from it. Anything that is not a ChatError
 * is a bug or an outage and is reported to clients as `internal` with no details.
 */
import { ERROR_STATUS, type ErrorCode } from '@trainer-chat/protocol'

export { ERROR_STATUS, type ErrorCode }

export class ChatError extends Error {
  override readonly name = 'ChatError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
  }

  get status(): number {
    return ERROR_STATUS[this.code]
  }
}

export const isChatError = (error: unknown): error is ChatError => error instanceof ChatError

/**
 * The one mapping from anything thrown to what a client may see: a ChatError as it is, anything
 * else as `internal` with no details. `unexpected` says whether it is a bug or an outage worth an
 * error log line (the caller logs it with its own context: route, connection).
 */
export function publicError(error: unknown): { error: ChatError; unexpected: boolean } {
  if (isChatError(error)) return { error, unexpected: false }
  return { error: new ChatError('internal', 'Something went wrong; please retry'), unexpected: true }
}

/** What may be logged of an unexpected error: its name, message and code, never request data. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { errorName: error.name, errorMessage: error.message, ...(code === undefined ? {} : { errorCode: code }) }
  }
  return { errorName: typeof error }
}
