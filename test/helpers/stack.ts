import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerFrame } from '@trainer-chat/protocol'
import WebSocket from 'ws'
import { DEMO_USERS } from '../../local/demo-users.ts'
import type { MintOptions } from '../../local/issuer.ts'
import type { LocalLog } from '../../local/log.ts'
import { startLocalStack, type LocalStack } from '../../local/stack.ts'
import { createServerDatabase } from './database.ts'
import { copyTemplate, templatesEnabled } from './pglite-template.ts'

process.env.LOG_LEVEL ??= 'error'
// Tests send far faster than a person types; files that test the send rate limit set their own.
process.env.RATE_LIMIT_BURST ??= '10000'
process.env.JOIN_BURST ??= '10000'
process.env.MARK_AS_READ_BURST ??= '10000'
// The tests' own SDK clients (S3, SNS against the local AWS edge) sign with these, as the stack's handlers do.
process.env.AWS_ACCESS_KEY_ID ??= 'test'
process.env.AWS_SECRET_ACCESS_KEY ??= 'test'

export interface TestStack extends LocalStack {
  dataDir: string
  statements: string[]
  token(email: string, options?: MintOptions): Promise<string>
  connect(email: string, options?: { token?: string }): Promise<TestClient>
  api(path: string, init?: { method?: string; email?: string; token?: string; body?: unknown }): Promise<{ status: number; body: any }>
  restart(): Promise<void>
  close(): Promise<void>
}

/**
 * The local stack on free ports with a temporary DATA_DIR, on a fresh database of the server
 * in DATABASE_URL when set (CI) or embedded PGlite otherwise.
 */
export interface TestStackOptions {
  /** With DATABASE_URL: the URL the stack should use instead of the fresh database's (e.g. a proxy in front of it). */
  routeDatabase?: (url: string) => Promise<string>
  /** On embedded PGlite: runs before every statement; what it throws fails the statement. */
  pgliteBeforeQuery?: (sql: string) => void | Promise<void>
  /** The local stack's own log (requests, connections, frames); default silent. */
  logger?: LocalLog
  /** Hosted-UI token lifetime (the console tests shorten it to see a refresh). */
  consoleTokenLifetimeSeconds?: number
  /** API Gateway's idle timeout and maximum connection duration, shortened by the tests of those limits. */
  wsIdleTimeoutSeconds?: number
  wsMaxConnectionSeconds?: number
  /**
   * Count the statements the handlers send (`stack.statements`, on by default). Off, the stack
   * runs as `npm run dev` does, with no Kysely log: what measures the code a frame runs turns it off.
   */
  countStatements?: boolean
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'trainer-chat-'))
  const server = process.env.DATABASE_URL ? await createServerDatabase(process.env.DATABASE_URL) : undefined
  // The stack opens DATA_DIR/pgdata; a migrated template there saves creating the database.
  if (!server && templatesEnabled) await copyTemplate('migrated', join(dataDir, 'pgdata'))
  const databaseUrl = server && options.routeDatabase ? await options.routeDatabase(server.url) : server?.url
  const statements: string[] = []
  const clients = new Set<TestClient>()
  let ports = { httpPort: 0, wsPort: 0, awsPort: 0 }
  const start = () =>
    startLocalStack({
      dataDir,
      ...ports,
      databaseUrl,
      ...(options.countStatements === false ? {} : { onQuery: (sql: string) => void statements.push(sql) }),
      ...(options.pgliteBeforeQuery ? { pgliteBeforeQuery: options.pgliteBeforeQuery } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.consoleTokenLifetimeSeconds ? { consoleTokenLifetimeSeconds: options.consoleTokenLifetimeSeconds } : {}),
      ...(options.wsIdleTimeoutSeconds ? { wsIdleTimeoutSeconds: options.wsIdleTimeoutSeconds } : {}),
      ...(options.wsMaxConnectionSeconds ? { wsMaxConnectionSeconds: options.wsMaxConnectionSeconds } : {}),
    })
  let stack = await start()
  ports = { httpPort: stack.http.port, wsPort: stack.ws.port, awsPort: stack.aws?.port ?? 0 }

  const token = (email: string, options?: MintOptions) => {
    const demo = DEMO_USERS.find((user) => user.email === email)
    const sub = demo?.subject ?? `sub-${email}`
    return stack.issuer.mint({ sub, email, name: demo?.displayName ?? email, groups: demo?.groups ?? [] }, options)
  }

  const testStack: TestStack = Object.assign(Object.create(null) as TestStack, {
    dataDir,
    statements,
    token,
    async connect(email: string, options: { token?: string } = {}) {
      const client = await TestClient.open(`${stack.wsUrl}/local`, options.token ?? (await token(email)))
      clients.add(client)
      return client
    },
    async api(path: string, init: { method?: string; email?: string; token?: string; body?: unknown } = {}) {
      const bearer = init.token ?? (init.email ? await token(init.email) : undefined)
      const response = await fetch(`${stack.httpUrl}${path}`, {
        method: init.method ?? 'GET',
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
      })
      const text = await response.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body }
    },
    async restart() {
      for (const client of clients) client.close()
      clients.clear()
      await stack.stop()
      stack = await start()
      Object.assign(testStack, stack)
    },
    async close() {
      for (const client of clients) client.close()
      await stack.stop()
      await server?.drop()
      await rm(dataDir, { recursive: true, force: true })
    },
  })
  Object.assign(testStack, stack)
  return testStack
}

type Frame = ServerFrame & Record<string, any>

/** How long a test waits for something that should happen before it calls it missing. */
const WAIT_MS = 30_000

/** A real WebSocket client that records every frame it receives. */
export class TestClient {
  readonly frames: Frame[] = []
  private waiters: Array<() => void> = []
  closeCode: number | undefined

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame)
      for (const wake of this.waiters.splice(0)) wake()
    })
    socket.on('close', (code) => {
      this.closeCode = code
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  static open(url: string, token: string, options: { viaHeader?: boolean; headers?: Record<string, string> } = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = options.viaHeader
        ? new WebSocket(url, { headers: { ...options.headers, authorization: `Bearer ${token}` } })
        : new WebSocket(`${url}?token=${encodeURIComponent(token)}`, { headers: { ...options.headers } })
      socket.once('open', () => resolve(new TestClient(socket)))
      socket.once('unexpected-response', (_request, response) => {
        reject(Object.assign(new Error(`handshake refused: ${response.statusCode}`), { status: response.statusCode }))
      })
      socket.once('error', reject)
    })
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /**
   * Resolves with the first frame (received or to come) matching; removes it from the buffer.
   * The time-out is a bound for a frame that never comes, not a measurement: generous, so a
   * loaded machine is slow rather than failing.
   */
  async next(predicate: (frame: Frame) => boolean, timeoutMs = WAIT_MS): Promise<Frame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = this.frames.findIndex(predicate)
      if (index >= 0) return this.frames.splice(index, 1)[0] as Frame
      const remaining = deadline - Date.now()
      if (remaining <= 0 || this.closeCode !== undefined) {
        throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 500)}`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  nextOfType<T extends Frame['type']>(type: T, timeoutMs?: number): Promise<Frame> {
    return this.next((frame) => frame.type === type, timeoutMs)
  }

  /** Sends a frame and waits for the reply carrying its requestId. */
  async request(frame: Record<string, unknown>, timeoutMs?: number): Promise<Frame> {
    const requestId = `r-${Math.random().toString(36).slice(2)}`
    this.send({ ...frame, requestId })
    return this.next((reply) => reply.requestId === requestId, timeoutMs)
  }

  /** Asserts nothing (matching) arrives for a while; returns what did arrive. */
  async quiet(ms = 300, predicate: (frame: Frame) => boolean = () => true): Promise<Frame[]> {
    await new Promise((resolve) => setTimeout(resolve, ms))
    return this.frames.filter(predicate)
  }

  waitForClose(timeoutMs = WAIT_MS): Promise<number> {
    if (this.closeCode !== undefined) return Promise.resolve(this.closeCode)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs)
      this.socket.once('close', (code) => {
        clearTimeout(timer)
        resolve(code)
      })
    })
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close()
  }
}
