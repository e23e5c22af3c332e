import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { REQUEST_ID_MAX_CHARS, requestIdOf, SendMessageFrame } from '@trainer-chat/protocol'
import { ChatError } from '../../lambdas/core/errors.ts'
import { parseFrame } from '../../lambdas/websocket/toolkit.ts'
import { identityFromClaims } from '../../lambdas/http/toolkit.ts'
import { extractToken } from '../../lambdas/adapters/jwt.ts'

const conversationId = '6f1c8a0e-2b7d-4c1e-9f3a-0d2b4c6e8a10'

describe('parseFrame', () => {
  test('refuses a NUL character in any field as bad_request naming it, before the database could fail on it', () => {
    for (const [field, frame] of [
      ['body', { action: 'sendMessage', conversationId, clientMessageId: 'c-1', body: 'hi\u0000' }],
      ['clientMessageId', { action: 'sendMessage', conversationId, clientMessageId: '\u0000', body: 'hi' }],
    ] as const) {
      assert.throws(
        () => parseFrame(SendMessageFrame, JSON.stringify(frame)),
        (e: unknown) =>
          e instanceof ChatError &&
          e.code === 'bad_request' &&
          JSON.stringify(e.details?.issues) === JSON.stringify([{ in: 'frame', path: field, code: 'invalid_string', message: 'must not contain NUL characters' }]),
      )
    }
  })
  test('drops fields the server owns', () => {
    const frame = parseFrame(
      SendMessageFrame,
      JSON.stringify({ action: 'sendMessage', conversationId, clientMessageId: 'c', body: 'b', senderId: 'x', seq: 9, createdAt: 'y' }),
    )
    assert.deepEqual(Object.keys(frame).sort(), ['action', 'body', 'clientMessageId', 'conversationId'])
  })

  test('names every invalid field in details', () => {
    try {
      parseFrame(SendMessageFrame, JSON.stringify({ action: 'sendMessage', conversationId: 'nope', clientMessageId: 7 }))
      assert.fail('expected a refusal')
    } catch (error) {
      assert.ok(error instanceof ChatError)
      assert.equal(error.code, 'bad_request')
      const issues = (error.details?.issues ?? []) as Array<{ path: string }>
      assert.deepEqual(issues.map((i) => i.path).sort(), ['clientMessageId', 'conversationId'])
    }
  })

  test('refuses non-JSON and non-objects', () => {
    for (const body of ['{', 'null', '"text"', '[]', '']) {
      assert.throws(() => parseFrame(SendMessageFrame, body), (e: unknown) => e instanceof ChatError && e.code === 'bad_request')
    }
  })

  test('a requestId longer than 64 characters is refused', () => {
    assert.throws(() =>
      parseFrame(SendMessageFrame, JSON.stringify({ action: 'sendMessage', conversationId, clientMessageId: 'c', requestId: 'r'.repeat(65) })),
    )
  })
})

describe('requestIdOf', () => {
  test('echoes a usable requestId even from an invalid frame', () => assert.equal(requestIdOf('{"requestId":"abc","action":1}'), 'abc'))
  test('ignores non-strings, oversize ids and non-JSON', () => {
    assert.equal(requestIdOf('{"requestId":5}'), undefined)
    assert.equal(requestIdOf(JSON.stringify({ requestId: 'r'.repeat(65) })), undefined)
    assert.equal(requestIdOf('nope'), undefined)
  })
  // One meaning for the server's echo and the local gateway's log (both call this one function):
  // an id the frame schema would refuse is dropped, never cut to a prefix nobody sent.
  test('keeps an id of exactly the protocol limit and drops one a character longer, uncut', () => {
    const longest = 'r'.repeat(REQUEST_ID_MAX_CHARS)
    assert.equal(requestIdOf(JSON.stringify({ requestId: longest })), longest)
    assert.equal(SendMessageFrame.shape.requestId.safeParse(longest).success, true)
    assert.equal(requestIdOf(JSON.stringify({ requestId: `${longest}x` })), undefined)
    assert.equal(SendMessageFrame.shape.requestId.safeParse(`${longest}x`).success, false)
  })
})

describe('identityFromClaims', () => {
  // API Gateway passes every claim as a string.
  const issued = () => ({ iat: String(Math.floor(Date.now() / 1000)), exp: String(Math.floor(Date.now() / 1000) + 3600) })
  test('reads groups flattened by API Gateway as "[a b]"', () => {
    assert.deepEqual(identityFromClaims({ ...issued(), sub: 's', email: 'a@b.c', 'cognito:groups': '[admin trainer]' }).groups, ['admin', 'trainer'])
  })
  test('reads groups as an array', () => {
    assert.deepEqual(identityFromClaims({ ...issued(), sub: 's', 'cognito:groups': ['trainer'] }).groups, ['trainer'])
  })
  test('refuses claims without a subject', () => {
    assert.throws(() => identityFromClaims({ ...issued(), email: 'a@b.c' }), (e: unknown) => e instanceof ChatError && e.code === 'unauthorized')
  })
})

describe('extractToken', () => {
  test('prefers the Authorization header in any case', () => {
    assert.equal(extractToken({ AUTHORIZATION: 'Bearer abc' }, { token: 'q' }), 'abc')
  })
  test('falls back to ?token=', () => assert.equal(extractToken({}, { token: 'q' }), 'q'))
  test('refuses a non-Bearer scheme', () => assert.equal(extractToken({ authorization: 'Basic abc' }), undefined))
})
