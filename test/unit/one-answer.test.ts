import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { Context } from 'aws-lambda'
import { createManagementApi, createWebSocketDelivery } from '../../lambdas/adapters/websocket-delivery.ts'
import { createSendMessageHandler } from '../../lambdas/handlers/ws-send-message.ts'
import type { Message } from '../../lambdas/core/model.ts'
import type { ChatStore, Delivery, Log, Outgoing } from '../../lambdas/core/ports.ts'
import { noMetrics, noPush, unusedStorage } from '../helpers/ports.ts'

/** Issue #11 item 1: one request, one answer, even when fan-out runs into the handler's deadline. */

const stored: Message = {
  id: 'm-1',
  conversationId: '00000000-0000-4000-8000-000000000001',
  seq: 1,
  senderId: 'member',
  body: 'hello',
  clientMessageId: 'c-1',
  createdAt: '2026-12-01T10:00:00.000Z',
  readAt: null,
  removed: false,
  attachment: null,
  editedAt: null,
  deletedAt: null,
  replyTo: null,
  reactions: [],
}

function recordingLog() {
  const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = []
  const log: Log = { debug() {}, info() {}, warn: (message, fields) => void warnings.push({ message, ...(fields ? { fields } : {}) }), error() {} }
  return { log, warnings }
}

const contextWith = (remainingMs: number): Context => {
  const deadline = Date.now() + remainingMs
  return { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) } as Context
}

describe('one request, one answer', () => {
  test('a fan-out still running at the handler’s deadline sends no error after the acknowledgement', async () => {
    const toSender: Outgoing<ServerFrame>[] = []
    const { log, warnings } = recordingLog()
    const store = {
      async sendMessage() {
        return { verdict: 'ok', userId: 'member', message: stored, duplicate: false, listeners: [{ connectionId: 'trainer-conn', userId: 'trainer', joined: true }] }
      },
      async forgetConnections() {
      return { offline: [], left: [] }
    },
    } as unknown as ChatStore
    // The sender's frames arrive; the trainer's post never finishes (a throttled, hung endpoint).
    const delivery: Delivery<ServerFrame> = {
      post(outgoing) {
        toSender.push(...outgoing.filter((o) => o.connectionId === 'sender-conn'))
        if (outgoing.some((o) => o.connectionId === 'trainer-conn')) return new Promise(() => {})
        return Promise.resolve({ gone: [], failed: [] })
      },
      async disconnect() {},
    }
    const handler = createSendMessageHandler({ store, delivery, log, storage: unusedStorage, push: noPush, metrics: noMetrics })
    const event = {
      requestContext: { routeKey: 'sendMessage', eventType: 'MESSAGE' as const, connectionId: 'sender-conn' },
      body: JSON.stringify({ action: 'sendMessage', requestId: 'r-1', conversationId: stored.conversationId, clientMessageId: 'c-1', body: 'hello' }),
    }

    const result = await handler(event, contextWith(200))

    assert.deepEqual(result, { statusCode: 200 })
    assert.deepEqual(
      toSender.map((o) => o.frame.type),
      ['newMessage'],
      'the sender gets its acknowledgement and nothing else for this request',
    )
    assert.ok(warnings.some((w) => w.fields?.['failedAfterAnswer'] === 1), 'the late failure is logged and counted')
  })

  test('the Management API fan-out abandons posts still running at the deadline and reports them late', { timeout: 20_000 }, async () => {
    const held: ServerResponse[] = []
    const server = createServer((request: IncomingMessage, response) => {
      request.resume()
      if (request.url?.includes('fast')) response.writeHead(200).end()
      else held.push(response)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const client = createManagementApi({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    })
    const { log } = recordingLog()
    try {
      const report = await createWebSocketDelivery<ServerFrame>(client, log).post(
        [
          { connectionId: 'fast', frame: { type: 'userLeft', conversationId: 'c', userId: 'u' } },
          { connectionId: 'slow', frame: { type: 'userLeft', conversationId: 'c', userId: 'u' } },
        ],
        { deadline: Date.now() + 300 },
      )
      assert.deepEqual(report, { gone: [], failed: [], late: ['slow'] })
    } finally {
      for (const response of held) response.destroy()
      client.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
