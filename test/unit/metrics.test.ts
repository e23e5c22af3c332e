import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ChatError } from '../../lambdas/core/errors.ts'
import type { ChatStore, Counter, MetricName, SendMessageResult } from '../../lambdas/core/ports.ts'
import { sendMessage, type SendMessagePorts } from '../../lambdas/core/send-message.ts'
import { noPush, silentLog, unusedStorage } from '../helpers/ports.ts'

/** The operational counts sendMessage reports, with in-memory ports. */

function counting(result: Partial<SendMessageResult>, gone: string[] = []) {
  const counts: Partial<Record<MetricName, number>> = {}
  const metrics: Counter = { count: (name, value = 1) => void (counts[name] = (counts[name] ?? 0) + value) }
  const store = {
    async sendMessage() {
      return {
        verdict: 'ok',
        userId: 'member',
        duplicate: false,
        listeners: [{ connectionId: 'trainer', userId: 'trainer', joined: true }],
        attachmentVerdict: 'none',
        push: null,
        message: {
          id: 'm-1', conversationId: 'conv', seq: 1, senderId: 'member', body: 'hi', clientMessageId: 'c',
          createdAt: '2026-12-01T10:00:00.000Z', readAt: null, removed: false, attachment: null,
          editedAt: null, deletedAt: null, replyTo: null, reactions: [],
        },
        ...result,
      }
    },
    async forgetConnections() {
      return { offline: [], left: [] }
    },
  } as unknown as ChatStore
  const ports: SendMessagePorts = {
    store,
    delivery: { post: async () => ({ gone, failed: [] }), disconnect: async () => {} },
    log: silentLog,
    metrics,
    storage: unusedStorage,
    push: noPush,
  }
  return { ports, counts }
}

const input = { conversationId: 'conv', clientMessageId: 'c', body: 'hi' }

describe('sendMessage metrics', () => {
  test('a new message counts as stored, with its fan-out posts and the connections found gone', async () => {
    const { ports, counts } = counting({}, ['trainer'])
    await sendMessage(ports, { connectionId: 'me' }, input)
    assert.deepEqual(counts, { messagesStored: 1, fanOutPosts: 2, connectionsGone: 1 })
  })

  test('a retry stores nothing new', async () => {
    const { ports, counts } = counting({ duplicate: true })
    await sendMessage(ports, { connectionId: 'me' }, input)
    assert.deepEqual(counts, { fanOutPosts: 1 })
  })

  test('a rate-limited send is counted as such', async () => {
    const { ports, counts } = counting({ message: null, retryAfterMs: 500 })
    await assert.rejects(sendMessage(ports, { connectionId: 'me' }, input), (e: unknown) => e instanceof ChatError && e.code === 'rate_limited')
    assert.deepEqual(counts, { sendsRateLimited: 1 })
  })
})
