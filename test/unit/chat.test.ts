import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import { assertAccess, typing, type TypingPorts } from '../../lambdas/core/chat.ts'
import { normalizeBody, preview, sendMessage, type SendMessagePorts } from '../../lambdas/core/send-message.ts'
import { ChatError } from '../../lambdas/core/errors.ts'
import type { Listener, Message } from '../../lambdas/core/model.ts'
import type { ChatStore, Delivery, Outgoing, SendMessageResult, Verdict } from '../../lambdas/core/ports.ts'
import { noMetrics, noPush, silentLog, unusedStorage } from '../helpers/ports.ts'

/** The use cases with in-memory ports: no database, no AWS. */

const MEMBER = 'member-1'
const TRAINER = 'trainer-1'

function message(overrides: Partial<Message> = {}): Message {
  return {
    id: 'msg-1',
    conversationId: 'conv-1',
    seq: 1,
    senderId: MEMBER,
    body: 'hello',
    clientMessageId: 'c-1',
    createdAt: '2026-11-24T10:00:00.000Z',
    readAt: null,
    removed: false,
    attachment: null,
    editedAt: null,
    deletedAt: null,
    replyTo: null,
    reactions: [],
    ...overrides,
  }
}

function fakePorts(sendResult: Partial<SendMessageResult>, gone: string[] = []) {
  const posted: Outgoing<ServerFrame>[] = []
  const forgotten: string[] = []
  const store = {
    async sendMessage() {
      return { verdict: 'ok', userId: MEMBER, message: message(), duplicate: false, listeners: [], ...sendResult }
    },
    async typing() {
      return { verdict: 'ok', userId: MEMBER, listeners: sendResult.listeners ?? [] }
    },
    async forgetConnections(ids: readonly string[]) {
      forgotten.push(...ids)
      return { offline: [], left: [] }
    },
  } as unknown as ChatStore
  const delivery: Delivery<ServerFrame> = {
    async post(outgoing) {
      posted.push(...outgoing)
      const ids = outgoing.map((o) => o.connectionId)
      return { gone: ids.filter((id) => gone.includes(id)), failed: [] }
    },
    async disconnect() {},
  }
  const ports: SendMessagePorts & TypingPorts = {
    store,
    delivery,
    log: silentLog,
    metrics: noMetrics,
    storage: unusedStorage,
    push: noPush,
    typingThrottle: { allow: () => true },
  }
  return { ports, posted, forgotten }
}

const listener = (connectionId: string, userId: string, joined: boolean): Listener => ({ connectionId, userId, joined })

describe('normalizeBody', () => {
  test('trims surrounding whitespace', () => assert.equal(normalizeBody('  hi  '), 'hi'))
  test('refuses an empty or blank body as bad_request', () => {
    for (const body of [undefined, '', '   \n\t']) {
      assert.throws(() => normalizeBody(body), (e: unknown) => e instanceof ChatError && e.code === 'bad_request')
    }
  })
  test('accepts exactly 4000 characters, counting an emoji as one', () => {
    assert.equal([...normalizeBody('💪'.repeat(4000))].length, 4000)
  })
  test('refuses 4001 characters as too_large', () => {
    assert.throws(() => normalizeBody('x'.repeat(4001)), (e: unknown) => e instanceof ChatError && e.code === 'too_large')
  })
})

describe('preview', () => {
  test('keeps short bodies whole', () => assert.equal(preview('short'), 'short'))
  test('cuts long bodies to 100 characters with an ellipsis', () => {
    const cut = preview('a'.repeat(300))
    assert.equal([...cut].length, 100)
    assert.ok(cut.endsWith('…'))
  })
})

describe('assertAccess', () => {
  const cases: Array<[Verdict, 'read' | 'write', string | undefined]> = [
    ['ok', 'write', undefined],
    ['closed', 'read', undefined],
    ['closed', 'write', 'conversation_closed'],
    ['forbidden', 'read', 'forbidden'],
    ['not_found', 'read', 'not_found'],
    ['unauthorized', 'write', 'unauthorized'],
  ]
  for (const [verdict, intent, code] of cases) {
    test(`${verdict} for a ${intent} → ${code ?? 'allowed'}`, () => {
      if (code === undefined) assert.doesNotThrow(() => assertAccess(verdict, intent))
      else assert.throws(() => assertAccess(verdict, intent), (e: unknown) => e instanceof ChatError && e.code === code)
    })
  }
})

describe('sendMessage fan-out', () => {
  const caller = { connectionId: 'sender-phone', requestId: 'r1' }
  const input = { conversationId: 'conv-1', clientMessageId: 'c-1', body: 'hello' }

  test('acks the sender with its requestId, delivers to joined connections, notifies the recipient elsewhere', async () => {
    const { ports, posted } = fakePorts({
      listeners: [
        listener('sender-phone', MEMBER, false),
        listener('sender-tablet-joined', MEMBER, true),
        listener('sender-laptop-not-joined', MEMBER, false),
        listener('trainer-joined', TRAINER, true),
        listener('trainer-elsewhere', TRAINER, false),
      ],
    })

    await sendMessage(ports, caller, input)

    const byConnection = Object.fromEntries(posted.map((o) => [o.connectionId, o.frame]))
    assert.deepEqual(Object.keys(byConnection).sort(), ['sender-phone', 'sender-tablet-joined', 'trainer-elsewhere', 'trainer-joined'])
    assert.deepEqual(byConnection['sender-phone'], { type: 'newMessage', message: message(), requestId: 'r1' })
    assert.deepEqual(byConnection['trainer-joined'], { type: 'newMessage', message: message() })
    assert.deepEqual(byConnection['sender-tablet-joined'], { type: 'newMessage', message: message() })
    assert.deepEqual(byConnection['trainer-elsewhere'], {
      type: 'newMessageNotification',
      conversationId: 'conv-1',
      messageId: 'msg-1',
      senderId: MEMBER,
      preview: 'hello',
    })
  })

  test('a retry answers only the sender, with the original message', async () => {
    const { ports, posted } = fakePorts({ duplicate: true, listeners: [] })
    const result = await sendMessage(ports, caller, input)
    assert.deepEqual(result, message())
    assert.deepEqual(posted, [{ connectionId: 'sender-phone', frame: { type: 'newMessage', message: message(), requestId: 'r1' } }])
  })

  test('a clientMessageId reused for another conversation is a bad_request', async () => {
    const { ports, posted } = fakePorts({ duplicate: true, message: message({ conversationId: 'conv-other' }) })
    await assert.rejects(sendMessage(ports, caller, input), (e: unknown) => e instanceof ChatError && e.code === 'bad_request')
    assert.deepEqual(posted, [])
  })

  test('connections reported gone are forgotten', async () => {
    const { ports, forgotten } = fakePorts({ listeners: [listener('trainer-stale', TRAINER, true)] }, ['trainer-stale'])
    await sendMessage(ports, caller, input)
    assert.deepEqual(forgotten, ['trainer-stale'])
  })

  test('a refused verdict sends nothing', async () => {
    const { ports, posted } = fakePorts({ verdict: 'forbidden', message: null })
    await assert.rejects(sendMessage(ports, caller, input), (e: unknown) => e instanceof ChatError && e.code === 'forbidden')
    assert.deepEqual(posted, [])
  })

  test('an invalid body never reaches the store', async () => {
    const { ports } = fakePorts({})
    let called = false
    ports.store.sendMessage = async () => {
      called = true
      throw new Error('unreachable')
    }
    await assert.rejects(sendMessage(ports, caller, { ...input, body: ' ' }), (e: unknown) => e instanceof ChatError)
    assert.equal(called, false)
  })
})

describe('typing', () => {
  test('relays to the other participant’s joined connections, never back to the caller', async () => {
    const { ports, posted } = fakePorts({ listeners: [listener('trainer-joined', TRAINER, true), listener('me', MEMBER, true)] })
    await typing(ports, { connectionId: 'me' }, { conversationId: 'conv-1', isTyping: true })
    assert.deepEqual(posted, [
      { connectionId: 'trainer-joined', frame: { type: 'userTyping', conversationId: 'conv-1', userId: MEMBER, isTyping: true } },
    ])
  })
})
