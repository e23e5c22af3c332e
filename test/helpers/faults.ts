import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net'
import type { TestStackOptions } from './stack.ts'

/**
 * A switch between the handlers and the database, for outage tests.
 *
 * With DATABASE_URL (a real PostgreSQL): a TCP proxy in front of the server. `stop()` cuts every
 * open connection and stops listening, so statements in flight fail the way they do when the
 * database goes away, and new connections are refused; `start()` listens again on the same port.
 * node-postgres sees only sockets: what it does with them is what the Lambdas will do.
 *
 * On embedded PGlite (no server, no network): the dialect's `beforeQuery` hook fails every
 * statement while stopped, with the error node-postgres gives for a connection the server dropped.
 * `hangNext` makes the next matching statement wait, then fail as PostgreSQL's statement timeout
 * does, which PGlite itself never enforces (it ignores statement_timeout).
 */
export interface DatabaseSwitch {
  kind: 'tcp-proxy' | 'pglite-hook'
  /** Give these to startTestStack. */
  stackOptions: TestStackOptions
  /** The database URL behind the proxy (DATABASE_URL runs only): for a side connection the switch must not cut. */
  directUrl: string | undefined
  stop(): Promise<void>
  /**
   * Lets `statements` more statements through, then stops as `stop()` does. A deterministic
   * "in the middle of a burst": embedded PGlite runs each statement synchronously, so a test
   * cannot react to the first acknowledgements before the whole burst has run.
   */
  stopAfter(statements: number): void
  start(): Promise<void>
  hangNext(matching: RegExp, timeoutMs: number): void
  close(): Promise<void>
}

export function databaseSwitch(): DatabaseSwitch {
  return process.env.DATABASE_URL ? tcpProxySwitch() : pgliteSwitch()
}

function pgliteSwitch(): DatabaseSwitch {
  let down = false
  let allowance = Number.POSITIVE_INFINITY
  let hang: { matching: RegExp; timeoutMs: number } | undefined
  return {
    kind: 'pglite-hook',
    directUrl: undefined,
    stackOptions: {
      async pgliteBeforeQuery(sql) {
        if (allowance-- <= 0) down = true
        if (down) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' })
        if (hang && hang.matching.test(sql)) {
          const { timeoutMs } = hang
          hang = undefined
          await new Promise((resolve) => setTimeout(resolve, timeoutMs))
          throw Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })
        }
      },
    },
    async stop() {
      down = true
    },
    stopAfter(statements) {
      allowance = statements
    },
    async start() {
      down = false
      allowance = Number.POSITIVE_INFINITY
    },
    hangNext(matching, timeoutMs) {
      hang = { matching, timeoutMs }
    },
    async close() {},
  }
}

function tcpProxySwitch(): DatabaseSwitch {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  let target = { host: '127.0.0.1', port: 5432 }
  let directUrl: string | undefined
  let allowance = Number.POSITIVE_INFINITY

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connectTcp(target.port, target.host)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => {})
        }
        client.on('data', (chunk: Buffer) => {
          const statements = countStatements(chunk)
          if (statements > 0 && (allowance -= statements) < 0) {
            allowance = Number.POSITIVE_INFINITY
            void self.stop()
            return
          }
          upstream.write(chunk)
        })
        upstream.pipe(client)
        client.on('close', () => upstream.destroy())
        upstream.on('close', () => client.destroy())
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        port = (server?.address() as { port: number }).port
        resolve()
      })
    })

  const self: DatabaseSwitch = {
    kind: 'tcp-proxy',
    get directUrl() {
      return directUrl
    },
    stackOptions: {
      async routeDatabase(url) {
        directUrl = url
        const parsed = new URL(url)
        target = { host: parsed.hostname, port: Number(parsed.port || 5432) }
        await listen()
        parsed.hostname = '127.0.0.1'
        parsed.port = String(port)
        return parsed.toString()
      },
    },
    async stop() {
      const closing = server
      server = undefined
      for (const socket of sockets) socket.destroy()
      if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()))
    },
    stopAfter(statements) {
      allowance = statements
    },
    async start() {
      allowance = Number.POSITIVE_INFINITY
      if (!server) await listen()
    },
    hangNext() {
      throw new Error('with a real server, hold a lock from directUrl instead')
    },
    close: () => self.stop(),
  }
  return self
}

/**
 * How many statements a chunk from node-postgres starts: its Parse ('P') and simple Query ('Q')
 * messages. Each message is a type byte and a big-endian length; node-postgres writes whole
 * messages, and the start-up packet (no type byte) never begins with either letter's length.
 */
function countStatements(chunk: Buffer): number {
  let count = 0
  for (let offset = 0; offset + 5 <= chunk.length; ) {
    const type = chunk[offset]
    const length = chunk.readUInt32BE(offset + 1)
    if (length < 4) break
    if (type === 0x50 || type === 0x51) count++
    offset += 1 + length
  }
  return count
}
