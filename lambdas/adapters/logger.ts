import { config } from '../config.ts'

/**
 * Structured JSON log lines (one object per line, as CloudWatch and Powertools expect).
 * Callers pass facts, never tokens or headers; values under keys that look like credentials
 * are redacted anyway as a second line of defence.
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const
type Level = keyof typeof LEVELS
const SECRET_KEY = /token|authorization|password|secret|signature/i

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

function write(level: Level, message: string, fields?: Record<string, unknown>): void {
  if (LEVELS[level] < LEVELS[config().logLevel]) return
  const line = JSON.stringify({ level, message, timestamp: new Date().toISOString(), ...fields }, (key, value) =>
    key !== '' && SECRET_KEY.test(key) ? '[redacted]' : value,
  )
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`)
  else process.stdout.write(`${line}\n`)
}

export const log: Logger = {
  debug: (message, fields) => write('debug', message, fields),
  info: (message, fields) => write('info', message, fields),
  warn: (message, fields) => write('warn', message, fields),
  error: (message, fields) => write('error', message, fields),
}

/** What may be logged of an unexpected error: its name, message and code, never request data. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { errorName: error.name, errorMessage: error.message, ...(code === undefined ? {} : { errorCode: code }) }
  }
  return { errorName: typeof error }
}
