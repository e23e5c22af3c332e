import type { Log } from '../core/ports.ts'

/**
 * Structured JSON log lines (one object per line, as CloudWatch and Powertools expect).
 * Callers pass facts, never tokens or headers; values under keys that look like credentials
 * are redacted anyway as a second line of defence.
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const
export type LogLevel = keyof typeof LEVELS
const SECRET_KEY = /token|authorization|password|secret|signature/i

export function createLogger(level: LogLevel): Log {
  const write = (lineLevel: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[lineLevel] < LEVELS[level]) return
    const line = JSON.stringify({ level: lineLevel, message, timestamp: new Date().toISOString(), ...fields }, (key, value) =>
      key !== '' && SECRET_KEY.test(key) ? '[redacted]' : value,
    )
    if (lineLevel === 'error' || lineLevel === 'warn') process.stderr.write(`${line}\n`)
    else process.stdout.write(`${line}\n`)
  }
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  }
}
