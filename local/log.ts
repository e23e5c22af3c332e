/**
 * What the local stack prints about its own work: one line per HTTP request, per WebSocket
 * connect, refusal and disconnect, and at `debug` one per frame in and out; plus start-up
 * progress. Readable and coloured on a terminal, JSON lines otherwise (piped, CI, tests).
 *
 * Callers pass facts only: a method, a path without its query string, a status, an action, a
 * size. Tokens, bodies and device tokens never reach this module (the gateways mask path
 * parameters named `token`, and never log a query string or a frame body).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export type Fields = Record<string, string | number | boolean | undefined>

export interface LocalLog {
  readonly level: LogLevel
  enabled(level: LogLevel): boolean
  /** One event: `kind` names it in JSON (`http`, `ws.connect`, ...), `text` is the readable form. */
  write(level: LogLevel, kind: string, text: string, fields?: Fields): void
  http(entry: { method: string; path: string; status: number; ms: number; fn: string | undefined }): void
  connected(entry: { connectionId: string; user: string }): void
  refused(entry: { status: number; why: string; ms: number }): void
  disconnected(entry: { connectionId: string; user: string; code: number; why: string }): void
  frameIn(entry: { connectionId: string; action: string; requestId: string | undefined; ms: number; outcome: string }): void
  frameOut(entry: { connectionId: string; type: string; bytes: number }): void
  step(text: string, fields?: Fields): void
}

export interface LocalLogOptions {
  level?: LogLevel
  /** Default process.stderr: stdout stays for what a script would read (the banner, a token). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean }
  /** Readable lines instead of JSON; default: when the stream is a terminal. */
  pretty?: boolean
  /** ANSI colours in readable lines; default: pretty and NO_COLOR unset. */
  color?: boolean
  now?: () => Date
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  return value !== undefined && value in LEVELS ? (value as LogLevel) : fallback
}

const paint = (code: number) => (text: string) => `\u001b[${code}m${text}\u001b[0m`
const COLORS = { dim: paint(2), red: paint(31), green: paint(32), yellow: paint(33), blue: paint(34), magenta: paint(35), cyan: paint(36) }
const plain = Object.fromEntries(Object.keys(COLORS).map((name) => [name, (text: string) => text])) as typeof COLORS

export function createLocalLog(options: LocalLogOptions = {}): LocalLog {
  const level = options.level ?? 'info'
  const stream = options.stream ?? process.stderr
  const pretty = options.pretty ?? stream.isTTY === true
  const c = (options.color ?? (pretty && !process.env.NO_COLOR)) ? COLORS : plain
  const now = options.now ?? (() => new Date())
  const enabled = (wanted: LogLevel) => LEVELS[wanted] >= LEVELS[level]

  const write: LocalLog['write'] = (at, kind, text, fields = {}) => {
    if (!enabled(at)) return
    const time = now()
    if (pretty) {
      const mark = at === 'error' ? c.red('error ') : at === 'warn' ? c.yellow('warn  ') : ''
      stream.write(`${c.dim(time.toISOString().slice(11, 23))} ${mark}${text}\n`)
    } else {
      const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
      stream.write(`${JSON.stringify({ level: at, time: time.toISOString(), source: 'local', kind, ...defined, message: text.replace(/\u001b\[\d+m/g, '') })}\n`)
    }
  }
  const status = (code: number) => {
    const text = String(code)
    return code >= 500 ? c.red(text) : code >= 400 ? c.yellow(text) : c.green(text)
  }
  const short = (connectionId: string) => c.dim(connectionId)

  return {
    level,
    enabled,
    write,
    http: ({ method, path, status: code, ms, fn }) =>
      write(code >= 500 ? 'warn' : 'info', 'http', `${c.cyan('HTTP')} ${method} ${path} ${status(code)} ${ms} ms${fn ? ` ${c.dim(fn)}` : ''}`, {
        method,
        path,
        status: code,
        ms,
        function: fn,
      }),
    connected: ({ connectionId, user }) =>
      write('info', 'ws.connect', `${c.magenta('WS')}   connect ${user} ${short(connectionId)}`, { connectionId, user }),
    refused: ({ status: code, why, ms }) =>
      write('info', 'ws.refused', `${c.magenta('WS')}   handshake refused ${status(code)} (${why}) ${ms} ms`, { status: code, why, ms }),
    disconnected: ({ connectionId, user, code, why }) =>
      write('info', 'ws.disconnect', `${c.magenta('WS')}   disconnect ${user} ${short(connectionId)} ${code} (${why})`, { connectionId, user, code, why }),
    frameIn: ({ connectionId, action, requestId, ms, outcome }) =>
      write(
        'debug',
        'ws.in',
        `${c.blue('WS ←')} ${action}${requestId ? ` ${c.dim(requestId)}` : ''} ${outcome === 'ok' ? c.green(outcome) : c.yellow(outcome)} ${ms} ms ${short(connectionId)}`,
        { connectionId, action, requestId, ms, outcome },
      ),
    frameOut: ({ connectionId, type, bytes }) =>
      write('debug', 'ws.out', `${c.blue('WS →')} ${type} ${bytes} B ${short(connectionId)}`, { connectionId, type, bytes }),
    step: (text, fields) => write('info', 'startup', text, fields),
  }
}

/** A log that prints nothing (tests and embedders that did not ask for one). */
export const silentLog: LocalLog = createLocalLog({ level: 'error', stream: { write: () => true } as unknown as NodeJS.WritableStream, pretty: false })
