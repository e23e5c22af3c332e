import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import type { ChatStore, Delivery, Outgoing } from '../../lambdas/core/ports.ts'
import { deleteMessage, react } from '../../lambdas/core/message-actions.ts'
import { noMetrics, silentLog } from '../helpers/ports.ts'

/** The message actions' use cases over an in-memory store: who hears what, and what never reaches the store. */

const caller = { connectionId: 'c-me', requestId: 'r-1' }
const listeners = [
  { connectionId: 'c-me', userId: 'member', joined: true },
  { connectionId: 'c-tablet', userId: 'member', joined: true },
  { connectionId: 'c-trainer', userId: 'trainer', joined: true },
  { connectionId: 'c-trainer-elsewhere', userId: 'trainer', joined: false },
]

function ports(store: Partial<ChatStore>) {
  const posted: Outgoing<ServerFrame>[] = []
  const calls: string[] = []
  const delivery: Delivery<ServerFrame> = {
    async post(outgoing) {
      posted.push(...outgoing)
      return { gone: [], failed: [] }
    },
    async disconnect() {},
  }
  const counted = Object.fromEntries(Object.entries(store).map(([name, fn]) => [name, (...args: never[]) => {
    calls.push(name)
    return (fn as (...a: never[]) => unknown)(...args)
  }])) as unknown as ChatStore
  return { posted, calls, ports: { store: counted, delivery, log: silentLog, metrics: noMetrics, reactionEmoji: ['👍'] } }
}

describe('message actions', () => {
  test('a deleted message tells the caller and every other joined connection, not connections elsewhere', async () => {
    const { posted, ports: p } = ports({ deleteMessage: async () => ({ verdict: 'ok', userId: 'member', messageVerdict: 'ok', deleted: true, listeners }) })

    await deleteMessage(p, caller, { conversationId: 'conv', messageId: 'm-1' })

    assert.deepEqual(posted.map((o) => [o.connectionId, (o.frame as { requestId?: string }).requestId]), [['c-me', 'r-1'], ['c-tablet', undefined], ['c-trainer', undefined]])
  })

  test('deleting a deleted message answers the caller alone', async () => {
    const { posted, ports: p } = ports({ deleteMessage: async () => ({ verdict: 'ok', userId: 'member', messageVerdict: 'ok', deleted: false, listeners }) })

    await deleteMessage(p, caller, { conversationId: 'conv', messageId: 'm-1' })

    assert.deepEqual(posted.map((o) => o.connectionId), ['c-me'])
  })

  test('an emoji outside the set is refused before the store is asked', async () => {
    const { calls, posted, ports: p } = ports({ react: async () => assert.fail('the store must not be asked') })

    await assert.rejects(react(p, caller, { conversationId: 'conv', messageId: 'm-1', emoji: '🍕', on: true }), { code: 'bad_request' })

    assert.deepEqual(calls, [])
    assert.deepEqual(posted, [])
  })
})
