import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import { typing, type TypingPorts } from '../../lambdas/core/chat.ts'
import { sendMessage, type SendMessagePorts } from '../../lambdas/core/send-message.ts'
import { ChatError } from '../../lambdas/core/errors.ts'
import type { ChatStore, Delivery, Outgoing } from '../../lambdas/core/ports.ts'
import { noMetrics, noPush, silentLog, unusedStorage } from '../helpers/ports.ts'

/** How the use cases turn the limits into replies, with in-memory ports. */

function ports(store: Partial<ChatStore>, allowTyping = true) {
  const posted: Outgoing<ServerFrame>[] = []
  const delivery: Delivery<ServerFrame> = {
    async post(outgoing) {
      posted.push(...outgoing)
      return { gone: [], failed: [] }
    },
    async disconnect() {},
  }
  const chat: SendMessagePorts & TypingPorts = {
    store: store as ChatStore,
    delivery,
    log: silentLog,
    metrics: noMetrics,
    storage: unusedStorage,
    push: noPush,
    typingThrottle: { allow: () => allowTyping },
  }
  return { chat, posted }
}

describe('sendMessage over the rate limit', () => {
  test('is refused as rate_limited with retryAfterMs, and nothing is sent to anyone', async () => {
    const { chat, posted } = ports({
      async sendMessage() {
        return { verdict: 'ok', userId: 'u1', message: null, duplicate: false, listeners: [], attachmentVerdict: 'none', push: null, retryAfterMs: 1250 }
      },
    })

    await assert.rejects(
      sendMessage(chat, { connectionId: 'c1' }, { conversationId: 'conv', clientMessageId: 'm1', body: 'hi' }),
      (error: unknown) => error instanceof ChatError && error.code === 'rate_limited' && error.details?.retryAfterMs === 1250 && error.status === 429,
    )
    assert.deepEqual(posted, [])
  })

  test('an access refusal wins over the rate limit (the statement only limits senders it would let in)', async () => {
    const { chat } = ports({
      async sendMessage() {
        return { verdict: 'forbidden', userId: 'u1', message: null, duplicate: false, listeners: [], attachmentVerdict: 'none', push: null }
      },
    })
    await assert.rejects(
      sendMessage(chat, { connectionId: 'c1' }, { conversationId: 'conv', clientMessageId: 'm1', body: 'hi' }),
      (error: unknown) => error instanceof ChatError && error.code === 'forbidden',
    )
  })
})

describe('typing over the throttle', () => {
  test('is dropped before the store is asked, with no reply', async () => {
    let asked = false
    const { chat, posted } = ports({ async typing() { asked = true; throw new Error('must not be called') } }, false)

    await typing(chat, { connectionId: 'c1' }, { conversationId: 'conv', isTyping: true })

    assert.equal(asked, false)
    assert.deepEqual(posted, [])
  })

  test('is still answered ok when it carries a requestId, so the caller\'s request settles', async () => {
    const { chat, posted } = ports({ async typing() { throw new Error('must not be called') } }, false)

    await typing(chat, { connectionId: 'c1', requestId: 'r1' }, { conversationId: 'conv', isTyping: true })

    assert.deepEqual(posted, [{ connectionId: 'c1', frame: { type: 'ok', requestId: 'r1' } }])
  })
})
