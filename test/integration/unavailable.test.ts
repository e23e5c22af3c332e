import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { Context } from 'aws-lambda'
import { createChatStore } from '../../lambdas/adapters/chat-store.ts'
import { createPostgresDatabase, databaseSettingsFromUrl } from '../../lambdas/adapters/postgres.ts'
import type { Delivery, Outgoing } from '../../lambdas/core/ports.ts'
import { createConnectHandler } from '../../lambdas/handlers/ws-connect.ts'
import { createSendMessageHandler } from '../../lambdas/handlers/ws-send-message.ts'
import { noMetrics, noPush, silentLog, unusedStorage } from '../helpers/ports.ts'

/**
 * Issue #11 item 3: when no database connection can be had (the server refuses, or never answers
 * so the pool's connect timeout passes, as when the pool is exhausted), the answer is the true
 * one: `unavailable` with `retryAfterMs` (nothing was stored), and a handshake is refused with 503.
 * The real node-postgres adapter, against real sockets.
 */

const sockets = new Set<Socket>()
let silent: Server
let refusedUrl: string
let silentUrl: string

before(async () => {
  // A port nobody listens on: connect() is refused at once.
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  refusedUrl = `postgres://postgres@127.0.0.1:${(probe.address() as AddressInfo).port}/test`
  await new Promise((resolve) => probe.close(resolve))
  // A server that accepts and never says a word: the pool waits out its connect timeout.
  silent = createServer((socket) => void sockets.add(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  silentUrl = `postgres://postgres@127.0.0.1:${(silent.address() as AddressInfo).port}/test`
})

after(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise((resolve) => silent.close(resolve))
})

function recordingDelivery() {
  const posted: Outgoing<ServerFrame>[] = []
  const delivery: Delivery<ServerFrame> = {
    async post(outgoing) {
      posted.push(...outgoing)
      return { gone: [], failed: [] }
    },
    async disconnect() {},
  }
  return { delivery, posted }
}

const context = { getRemainingTimeInMillis: () => 10_000 } as Context

for (const [outage, url] of [
  ['the database refuses connections', () => refusedUrl],
  ['the database never answers (pool connect timeout)', () => silentUrl],
] as const) {
  describe(`when ${outage}`, () => {
    test('a send answers `unavailable` with retryAfterMs, once', async () => {
      const db = createPostgresDatabase(databaseSettingsFromUrl(url()))
      const { delivery, posted } = recordingDelivery()
      const handler = createSendMessageHandler({ store: createChatStore(db), delivery, log: silentLog, storage: unusedStorage, push: noPush, metrics: noMetrics })
      try {
        await handler(
          {
            requestContext: { routeKey: 'sendMessage', eventType: 'MESSAGE', connectionId: 'conn-1' },
            body: JSON.stringify({ action: 'sendMessage', requestId: 'r-1', conversationId: '00000000-0000-4000-8000-000000000001', clientMessageId: 'c-1', body: 'hi' }),
          },
          context,
        )
      } finally {
        await db.destroy()
      }
      assert.equal(posted.length, 1)
      const frame = posted[0]?.frame
      assert.equal(frame?.type, 'error')
      assert.ok(frame?.type === 'error')
      assert.equal(frame.code, 'unavailable')
      assert.equal(frame.requestId, 'r-1')
      assert.ok(typeof frame.details?.['retryAfterMs'] === 'number' && frame.details['retryAfterMs'] > 0)
    })

    test('a handshake is refused with 503', async () => {
      const db = createPostgresDatabase(databaseSettingsFromUrl(url()))
      const handler = createConnectHandler({ store: createChatStore(db), log: silentLog, maxConnectionsPerUser: 5 })
      try {
        const result = await handler(
          {
            requestContext: {
              routeKey: '$connect',
              eventType: 'CONNECT',
              connectionId: 'conn-1',
              authorizer: { sub: 'user-1', email: 'a@example.com', name: 'A', groups: '[]', tokenExpiresAt: Date.now() + 60_000 },
            },
          },
          context,
        )
        assert.equal(result.statusCode, 503)
      } finally {
        await db.destroy()
      }
    })
  })
}
