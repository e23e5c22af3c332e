import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import { createPostgresDatabase } from '../../lambdas/adapters/postgres.ts'
import { parseConfig } from '../../lambdas/config.ts'

/**
 * How the Lambdas' database connection carries DB_STATEMENT_TIMEOUT_MS: node-postgres puts
 * `statement_timeout` in the start-up packet, so PostgreSQL applies it to every statement of the
 * session without a `SET` (which would pin the session behind RDS Proxy). Checked on the wire: a
 * TCP listener reads the start-up packet the real driver sends. (PostgreSQL cancelling a statement
 * at that timeout is proved end to end in test/e2e/faults.test.ts against a real server; PGlite
 * ignores statement_timeout.)
 */

test('DB_STATEMENT_TIMEOUT_MS reaches PostgreSQL in the start-up packet of every connection', async () => {
  let received = Buffer.alloc(0)
  const sockets = new Set<Socket>()
  const server = createServer()
  const packet = new Promise<Buffer>((resolve) => {
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        if (received.length >= 4 && received.length >= received.readUInt32BE(0)) {
          resolve(received.subarray(0, received.readUInt32BE(0)))
          socket.destroy()
        }
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const config = parseConfig({ DATABASE_URL: `postgres://lambda@127.0.0.1:${port}/chat`, DB_STATEMENT_TIMEOUT_MS: '1234' })
  const db = createPostgresDatabase(config.database)
  try {
    const attempt = sql`SELECT 1`.execute(db).catch((error: unknown) => error)

    const startup = await packet
    // Protocol 3.0 start-up: length, version, then NUL-terminated name/value pairs.
    const pairs = startup.subarray(8).toString('utf8').split('\0').filter(Boolean)
    const parameters = Object.fromEntries(pairs.flatMap((_, i) => (i % 2 === 0 ? [[pairs[i], pairs[i + 1]]] : [])))
    assert.equal(parameters.statement_timeout, '1234')
    assert.equal(parameters.user, 'lambda')
    assert.equal(parameters.database, 'chat')
    assert.ok(await attempt instanceof Error, 'the listener speaks no further protocol, so the query fails')
  } finally {
    await db.destroy()
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})
