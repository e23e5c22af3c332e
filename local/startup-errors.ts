import { createServer, type Server } from 'node:net'

/**
 * Start-up failures of the local stack as one line each, naming what to change: `npm run dev`
 * prints `explainStartupError(error)` and exits non-zero, with the stack trace only at
 * LOG_LEVEL=debug. Anything not recognised here is still one line (its message).
 */

/** A failure already worded for the person who ran the command. */
export class StartupError extends Error {
  override readonly name = 'StartupError'
}

/** `server.listen`, failing with the variable to change when the port is taken or not allowed. */
export async function listenOn(server: Server, port: number, host: string, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      reject(describeListenError(error, port, host, variable))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
}

/**
 * Checks, before the stack's modules load, that each port can be listened on (0, any free port,
 * always can): a taken port is then said in a second instead of after the whole start. The stack
 * still words its own listen failures the same way, for the port taken in between.
 */
export async function checkPortsFree(host: string, ports: Array<{ port: number; variable: string }>): Promise<void> {
  const results = await Promise.allSettled(
    ports
      .filter(({ port }) => port !== 0)
      .map(async ({ port, variable }) => {
        const probe = createServer()
        await listenOn(probe, port, host, variable)
        await new Promise<void>((resolve) => probe.close(() => resolve()))
      }),
  )
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []))
  if (failures.length === 0) return
  // One line for all of them, as the stack says it (local/stack.ts), so each variable to change is named.
  const messages = [...new Set(failures.map((failure) => failure.message))]
  throw new StartupError(messages.join('; '), { cause: failures[0] })
}

export function describeListenError(error: NodeJS.ErrnoException, port: number, host: string, variable: string): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupError(`port ${port} is already in use (${variable}): stop what is listening there or set ${variable}=<another port>, or 0 for any free port`, { cause: error })
    case 'EACCES':
      return new StartupError(`port ${port} needs privileges (${variable}): set ${variable} to a port above 1023`, { cause: error })
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new StartupError(`cannot listen on ${host}: HOST must be an address of this machine (127.0.0.1 by default)`, { cause: error })
    default:
      return error
  }
}

/** Checks DATABASE_URL's shape before anything connects, so `notaurl` is not a DNS error. */
export function checkDatabaseUrl(value: string): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new StartupError(`DATABASE_URL is not a URL: expected postgres://user@host:5432/database (or unset it to use the embedded database)`)
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new StartupError(`DATABASE_URL must start with postgres:// (got ${url.protocol}//): expected postgres://user@host:5432/database`)
  }
  if (!url.hostname) throw new StartupError('DATABASE_URL names no host: expected postgres://user@host:5432/database')
  if (url.pathname.length <= 1) throw new StartupError('DATABASE_URL names no database: expected postgres://user@host:5432/database')
}

/** What a database server (or the embedded one) answered, as one actionable line. */
export function explainDatabaseError(thrown: unknown, databaseUrl: string | undefined): StartupError | undefined {
  // The pool answers any failure to connect as `unavailable` for clients (lambdas/adapters/postgres.ts);
  // the reason to tell a developer is the driver's error it carries.
  const error = thrown instanceof Error && (thrown as { code?: unknown }).code === 'unavailable' && thrown.cause !== undefined ? thrown.cause : thrown
  const where = databaseUrl ? describeServer(databaseUrl) : 'the embedded database'
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : String(error)
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || /timeout expired|Connection terminated due to connection timeout/i.test(message)) {
    return new StartupError(`the database server at ${where} does not answer (${code ?? 'timeout'}): start PostgreSQL or fix DATABASE_URL (unset it to use the embedded database)`, { cause: error })
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StartupError(`the database host in DATABASE_URL (${where}) does not resolve: fix DATABASE_URL`, { cause: error })
  }
  if (code === '3D000' && databaseUrl) {
    const name = decodeURIComponent(new URL(databaseUrl).pathname.slice(1))
    const server = new URL(databaseUrl)
    const user = server.username ? ` -U ${decodeURIComponent(server.username)}` : ''
    return new StartupError(`database "${name}" does not exist on ${where}: create it with  createdb -h ${server.hostname} -p ${server.port || 5432}${user} ${name}`, { cause: error })
  }
  if (code === '28P01' || code === '28000') {
    return new StartupError(`the database server at ${where} refused the login (${message}): fix the user or password in DATABASE_URL`, { cause: error })
  }
  return undefined
}

function describeServer(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl)
    return `${url.hostname}:${url.port || 5432}`
  } catch {
    return 'DATABASE_URL'
  }
}

/** A DATA_DIR the stack cannot create or write. */
export function explainDataDirError(error: unknown, dataDir: string): StartupError | undefined {
  const code = (error as { code?: unknown } | null)?.code
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new StartupError(`DATA_DIR ${dataDir} is not writable (${String(code)}): fix its permissions or set DATA_DIR to a directory you own`, { cause: error })
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new StartupError(`DATA_DIR ${dataDir} is not a directory: set DATA_DIR to a directory (it is created if missing)`, { cause: error })
  }
  if (code === 'ENOSPC') return new StartupError(`no space left for DATA_DIR ${dataDir}`, { cause: error })
  return undefined
}

/** The one line `npm run dev` prints for any start-up failure. */
export function explainStartupError(error: unknown): string {
  if (error instanceof StartupError) return error.message
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name
  return String(error)
}
