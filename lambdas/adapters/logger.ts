import { Logger } from '@aws-lambda-powertools/logger'
import type { Log } from '../core/ports.ts'

/**
 * Structured JSON log lines through Powertools for AWS Lambda's Logger: one object per line, with
 * the invocation's context (function, request id, cold start) added by its middy middleware
 * (lambdas/wiring/observability.ts). Callers pass facts, never tokens or headers; values under
 * keys that look like credentials are redacted anyway as a second line of defence.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const SECRET_KEY = /token|authorization|password|secret|signature/i
const LEVELS = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' } as const

export const SERVICE_NAME = 'trainer-chat'

export function createLogger(level: LogLevel): Logger {
  return new Logger({
    serviceName: SERVICE_NAME,
    logLevel: LEVELS[level],
    jsonReplacerFn: (key, value) => (key !== '' && SECRET_KEY.test(key) ? '[redacted]' : value),
  })
}

/** Our Log port over a Powertools Logger (fields become top-level keys of the line). */
export function logOf(logger: Logger): Log {
  const at =
    (write: (message: string, ...extra: Array<Record<string, unknown>>) => void) =>
    (message: string, fields?: Record<string, unknown>) =>
      fields ? write(message, fields) : write(message)
  return {
    debug: at(logger.debug.bind(logger)),
    info: at(logger.info.bind(logger)),
    warn: at(logger.warn.bind(logger)),
    error: at(logger.error.bind(logger)),
  }
}
