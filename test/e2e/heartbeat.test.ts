import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import type WebSocket from 'ws'

const closeOf = (socket: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))

/**
 * One answer per request, the heartbeat, and API Gateway's two connection limits, as the local
 * gateway enforces them (shortened here: idle 3 s, at most 6 s).
 */
const LIMITS = { wsIdleTimeoutSeconds: 3, wsMaxConnectionSeconds: 6 }

/** Replies are waited for, not timed: a loaded machine is slow, not wrong. */
const LOADED_MS = 60_000

let stack: TestStack
let pair: Pair

before(async () => {
  stack = await startTestStack(LIMITS)
  pair = await createPair(stack.db, 'heartbeat')
})
after(() => stack.close())

describe('one reply per request', () => {
  test('markAsRead, typing and leaveConversation with a requestId are answered ok with it', async () => {
    const trainer = await stack.connect(pair.trainer.email)
    const member = await stack.connect(pair.member.email)
    await member.request({ action: 'joinConversation', conversationId: pair.conversationId }, LOADED_MS)
    const ack = await trainer.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: 'hb-1', body: 'hello' }, LOADED_MS)

    const read = await member.request({ action: 'markAsRead', conversationId: pair.conversationId, messageId: ack.message.id }, LOADED_MS)
    const readAgain = await member.request({ action: 'markAsRead', conversationId: pair.conversationId, messageId: ack.message.id }, LOADED_MS)
    const typing = await member.request({ action: 'typing', conversationId: pair.conversationId, isTyping: true }, LOADED_MS)
    const left = await member.request({ action: 'leaveConversation', conversationId: pair.conversationId }, LOADED_MS)

    for (const reply of [read, readAgain, typing, left]) assert.equal(reply.type, 'ok')
    await stack.ws.idle()
    assert.deepEqual(member.frames.filter((f) => f.type === 'ok' || f.type === 'error'), [], 'exactly one reply each')
    member.close()
    trainer.close()
  })

  test('ping is answered pong by the gateway, with no handler invoked', async () => {
    const member = await stack.connect(pair.member.email)
    await stack.ws.idle()
    stack.statements.length = 0

    member.send({ action: 'ping' })
    const pong = await member.nextOfType('pong', LOADED_MS)

    assert.deepEqual(pong, { type: 'pong' })
    await stack.ws.idle()
    assert.equal(stack.statements.length, 0)
    member.close()
  })
})

describe('connection limits', () => {
  test('a connection that sends nothing is closed with 1001 after the idle timeout, and forgotten', async () => {
    const member = await stack.connect(pair.member.email)
    const closed = closeOf(member.socket)

    assert.deepEqual(await closed, { code: 1001, reason: 'Going away: idle timeout' })
    for (let i = 0; i < 100 && stack.ws.connectionIds().length > 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(stack.ws.connectionIds(), [])
  })

  test('pings keep a connection past the idle timeout, but not past the maximum duration', async () => {
    const member = await stack.connect(pair.member.email)
    const closed = closeOf(member.socket)
    const heartbeat = setInterval(() => member.send({ action: 'ping' }), 500)
    try {
      assert.deepEqual(await closed, { code: 1001, reason: 'Going away: maximum connection duration' })
    } finally {
      clearInterval(heartbeat)
    }
    assert.ok(member.frames.filter((f) => f.type === 'pong').length > 0)
  })
})
