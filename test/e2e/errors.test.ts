import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { startTestStack, TestClient, type TestStack } from '../helpers/stack.ts'

/** Every refusal: one typed `error` frame to the caller, nothing stored, nothing sent to anyone else. */

let stack: TestStack
let conversation1: string
let conversation2: string

async function messageCount(): Promise<number> {
  const row = await stack.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}

before(async () => {
  stack = await startTestStack()
  conversation1 = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  conversation2 = (await stack.api('/conversations', { email: 'user2@example.com' })).body.conversations[0].id
})
after(() => stack.close())

describe('the handshake', () => {
  test('accepts a token in the Authorization header or in ?token=', async () => {
    const viaQuery = await stack.connect('user1@example.com')
    const viaHeader = await TestClient.open(`${stack.wsUrl}/local`, await stack.token('user1@example.com'), { viaHeader: true })
    const history = await viaHeader.request({ action: 'joinConversation', conversationId: conversation1 })
    assert.equal(history.type, 'conversationHistory')
    viaQuery.close()
    viaHeader.close()
  })

  for (const [name, makeToken] of [
    ['no token', async () => ''],
    ['a malformed token', async () => 'not.a.jwt'],
    ['an expired token', () => stack.token('user1@example.com', { expiresInSeconds: -120 })],
    ['a token for another audience', () => stack.token('user1@example.com', { extra: { aud: 'someone-else' } })],
    ['a token from another issuer', () => stack.token('user1@example.com', { extra: { iss: 'https://evil.example.com' } })],
    ['an access token where an id token is expected', () => stack.token('user1@example.com', { tokenUse: 'access' })],
  ] as const) {
    test(`refuses ${name} with 401 before upgrading`, async () => {
      const token = await makeToken()
      await assert.rejects(TestClient.open(`${stack.wsUrl}/local`, token), { status: 401 })
    })
  }

  test('refuses a token signed by another key with 401', async () => {
    const token = await stack.token('user1@example.com')
    const [header, payload] = token.split('.')
    const forged = `${header}.${payload}.${Buffer.from('forged-signature').toString('base64url')}`
    await assert.rejects(TestClient.open(`${stack.wsUrl}/local`, forged), { status: 401 })
  })
})

describe('refused frames', () => {
  let member: TestClient
  let trainer: TestClient
  before(async () => {
    member = await stack.connect('user1@example.com')
    trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId: conversation1 })
  })
  after(() => {
    member.close()
    trainer.close()
  })

  const refusals: Array<[string, () => Record<string, unknown> | string, string]> = [
    ['text that is not JSON', () => 'hello?', 'bad_request'],
    ['a JSON array', () => '[1,2]', 'bad_request'],
    ['an unknown action', () => ({ action: 'deleteEverything', requestId: 'q1' }), 'bad_request'],
    ['a frame without action', () => ({ conversationId: conversation1 }), 'bad_request'],
    ['a missing clientMessageId', () => ({ action: 'sendMessage', conversationId: conversation1, body: 'x' }), 'bad_request'],
    ['a conversationId that is not a UUID', () => ({ action: 'sendMessage', conversationId: 'abc', clientMessageId: 'e1', body: 'x' }), 'bad_request'],
    ['a body of the wrong type', () => ({ action: 'sendMessage', conversationId: conversation1, clientMessageId: 'e2', body: 42 }), 'bad_request'],
    ['an empty body after trimming', () => ({ action: 'sendMessage', conversationId: conversation1, clientMessageId: 'e3', body: '   ' }), 'bad_request'],
    ['a body over 4000 characters', () => ({ action: 'sendMessage', conversationId: conversation1, clientMessageId: 'e4', body: 'x'.repeat(4001) }), 'too_large'],
    ['a conversation that does not exist', () => ({ action: 'sendMessage', conversationId: randomUUID(), clientMessageId: 'e5', body: 'x' }), 'not_found'],
    ["another member's conversation", () => ({ action: 'sendMessage', conversationId: conversation2, clientMessageId: 'e6', body: 'x' }), 'forbidden'],
    ["joining another member's conversation", () => ({ action: 'joinConversation', conversationId: conversation2 }), 'forbidden'],
    ['typing in another member’s conversation', () => ({ action: 'typing', conversationId: conversation2, isTyping: true }), 'forbidden'],
    ['marking a message that does not exist', () => ({ action: 'markAsRead', conversationId: conversation1, messageId: randomUUID() }), 'not_found'],
    ['a limit above 100', () => ({ action: 'joinConversation', conversationId: conversation1, limit: 1000 }), 'bad_request'],
  ]

  for (const [name, frame, code] of refusals) {
    test(`${name} → error ${code}, nothing stored or relayed`, async () => {
      const before = await messageCount()
      const requestId = `req-${code}-${Math.random().toString(36).slice(2, 8)}`
      const raw = frame()
      member.send(typeof raw === 'string' ? raw : { ...raw, requestId })

      const error = await member.nextOfType('error')

      assert.equal(error.code, code)
      assert.equal(typeof error.message, 'string')
      if (typeof raw !== 'string' && raw.action !== undefined) assert.equal(error.requestId, requestId)
      assert.equal(await messageCount(), before)
      // Presence frames are about connections opening and closing, not about the refused frame.
      assert.deepEqual(await trainer.quiet(100, (f) => f.type !== 'error' && f.type !== 'presence'), [])
      assert.deepEqual(member.frames.filter((f) => f.type !== 'error' && f.type !== 'presence'), [])
    })
  }

  test('a trainer cannot use a conversation of a member assigned to another trainer', async () => {
    const error = await trainer.request({ action: 'sendMessage', conversationId: conversation2, clientMessageId: 'e7', body: 'x' })
    assert.equal(error.code, 'forbidden')
  })

  test('an admin is not a participant: admins read through the admin API', async () => {
    const admin = await stack.connect('admin@example.com')
    const error = await admin.request({ action: 'joinConversation', conversationId: conversation1 })
    assert.equal(error.code, 'forbidden')
    admin.close()
  })

  test('a closed conversation is read-only: sends get conversation_closed, history stays readable', async () => {
    await stack.db.updateTable('conversations').set({ status: 'closed', closed_at: new Date(), closed_reason: 'test' }).where('id', '=', conversation2).execute()
    const member2 = await stack.connect('user2@example.com')
    try {
      const refused = await member2.request({ action: 'sendMessage', conversationId: conversation2, clientMessageId: 'c1', body: 'x' })
      assert.equal(refused.code, 'conversation_closed')
      const history = await member2.request({ action: 'joinConversation', conversationId: conversation2 })
      assert.equal(history.type, 'conversationHistory')
    } finally {
      member2.close()
      await stack.db.updateTable('conversations').set({ status: 'open', closed_at: null, closed_reason: null }).where('id', '=', conversation2).execute()
    }
  })

  test('an unexpected failure is reported as internal without details, and nothing is stored', async () => {
    await sql`ALTER TABLE messages RENAME TO messages_gone`.execute(stack.db)
    try {
      const error = await member.request({ action: 'sendMessage', conversationId: conversation1, clientMessageId: 'boom', body: 'x' })
      assert.equal(error.code, 'internal')
      assert.equal(error.details, undefined)
      assert.doesNotMatch(error.message, /messages_gone|relation|SELECT/i)
    } finally {
      await sql`ALTER TABLE messages_gone RENAME TO messages`.execute(stack.db)
    }
    const stored = await stack.db.selectFrom('messages').where('client_message_id', '=', 'boom').selectAll().execute()
    assert.deepEqual(stored, [])
  })

  test('a connection whose token expired is refused with unauthorized and closed', async () => {
    const shortLived = await stack.connect('user1@example.com', { token: await stack.token('user1@example.com', { expiresInSeconds: 1 }) })
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const error = await shortLived.request({ action: 'sendMessage', conversationId: conversation1, clientMessageId: 'late', body: 'x' })
    assert.equal(error.code, 'unauthorized')
    await shortLived.waitForClose()
    const stored = await stack.db.selectFrom('messages').where('client_message_id', '=', 'late').selectAll().execute()
    assert.deepEqual(stored, [])
  })
})

describe('frames over API Gateway’s size limit', () => {
  test('close the connection with 1009 like API Gateway', async () => {
    const member = await stack.connect('user1@example.com')
    member.send({ action: 'sendMessage', conversationId: conversation1, clientMessageId: 'huge', body: 'x'.repeat(130 * 1024) })
    assert.equal(await member.waitForClose(), 1009)
  })
})
