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
