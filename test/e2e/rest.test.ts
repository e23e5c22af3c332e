import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/** The apps' REST routes through the local HTTP API, with real tokens. */

let stack: TestStack
let conversationId: string

before(async () => {
  stack = await startTestStack()
  conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  const member = await stack.connect('user1@example.com')
  for (let i = 1; i <= 7; i++) await member.request({ action: 'sendMessage', conversationId, clientMessageId: `m${i}`, body: `message ${i}` })
  member.close()
})
after(() => stack.close())

describe('GET /health', () => {
  test('answers 200 without a token when the database answers', async () => {
    assert.deepEqual(await stack.api('/health'), { status: 200, body: { status: 'ok' } })
  })
})

describe('GET /me', () => {
  test('returns the caller as stored, with the role from the database', async () => {
    const { status, body } = await stack.api('/me', { email: 'trainer1@example.com' })
    assert.equal(status, 200)
    assert.equal(body.email, 'trainer1@example.com')
    assert.equal(body.role, 'trainer')
    assert.equal(body.trainerId, null)
    assert.equal(typeof body.id, 'string')
  })

  test('creates a user on first authenticated contact, as a member', async () => {
    const { status, body } = await stack.api('/me', { email: 'newcomer@example.com' })
    assert.equal(status, 200)
    assert.equal(body.role, 'user')
    const rows = await stack.db.selectFrom('users').where('email', '=', 'newcomer@example.com').selectAll().execute()
    assert.equal(rows.length, 1)
  })

  test('the database role wins over the token’s groups', async () => {
    await stack.api('/me', { email: 'promoted@example.com' })
    await stack.db.updateTable('users').set({ role: 'trainer' }).where('email', '=', 'promoted@example.com').execute()
    const { body } = await stack.api('/me', { email: 'promoted@example.com' })
    assert.equal(body.role, 'trainer')
  })

  for (const [name, token] of [
    ['no token', undefined],
    ['a garbage token', 'garbage'],
  ] as const) {
    test(`answers 401 for ${name}`, async () => {
      const { status } = await stack.api('/me', token ? { token } : {})
      assert.equal(status, 401)
    })
  }

  test('answers 401 for an expired token', async () => {
    const { status } = await stack.api('/me', { token: await stack.token('user1@example.com', { expiresInSeconds: -300 }) })
    assert.equal(status, 401)
  })
})

describe('GET /conversations', () => {
  test('lists the member’s conversation with its last message and unread count', async () => {
    const { status, body } = await stack.api('/conversations', { email: 'user1@example.com' })
    assert.equal(status, 200)
    assert.equal(body.conversations.length, 1)
    const [conversation] = body.conversations
    assert.equal(conversation.id, conversationId)
    assert.equal(conversation.status, 'open')
    assert.equal(conversation.lastMessage.body, 'message 7')
    assert.equal(conversation.unreadCount, 0, 'own messages are never unread')
  })

  test('the trainer sees the member’s messages as unread', async () => {
    const { body } = await stack.api('/conversations', { email: 'trainer1@example.com' })
    const conversation = body.conversations.find((c: { id: string }) => c.id === conversationId)
    assert.equal(conversation.unreadCount, 7)
  })

  test('an admin has no conversations of their own', async () => {
    const { body } = await stack.api('/conversations', { email: 'admin@example.com' })
    assert.deepEqual(body.conversations, [])
  })
})

describe('GET /conversations/{id}/messages', () => {
  test('pages backwards by seq, each page oldest first', async () => {
    const first = await stack.api(`/conversations/${conversationId}/messages?limit=3`, { email: 'user1@example.com' })
    assert.equal(first.status, 200)
    assert.deepEqual(first.body.messages.map((m: { body: string }) => m.body), ['message 5', 'message 6', 'message 7'])
    assert.equal(first.body.hasMore, true)

    const before = first.body.messages[0].seq
    const second = await stack.api(`/conversations/${conversationId}/messages?limit=3&before=${before}`, { email: 'trainer1@example.com' })
    assert.deepEqual(second.body.messages.map((m: { body: string }) => m.body), ['message 2', 'message 3', 'message 4'])
    assert.equal(second.body.hasMore, true)

    const last = await stack.api(`/conversations/${conversationId}/messages?limit=3&before=${second.body.messages[0].seq}`, { email: 'user1@example.com' })
    assert.deepEqual(last.body.messages.map((m: { body: string }) => m.body), ['message 1'])
    assert.equal(last.body.hasMore, false)
  })

  test('403 for someone who is not a participant', async () => {
    for (const email of ['user2@example.com', 'trainer2@example.com', 'admin@example.com']) {
      const { status, body } = await stack.api(`/conversations/${conversationId}/messages`, { email })
      assert.equal(status, 403, email)
      assert.equal(body.error.code, 'forbidden')
    }
  })

  test('404 for a conversation that does not exist', async () => {
    const { status, body } = await stack.api(`/conversations/${randomUUID()}/messages`, { email: 'user1@example.com' })
    assert.equal(status, 404)
    assert.equal(body.error.code, 'not_found')
  })

  for (const query of ['limit=0', 'limit=101', 'limit=abc', 'before=-1', 'before=1.5']) {
    test(`400 with a JSON error body for ?${query}`, async () => {
      const { status, body } = await stack.api(`/conversations/${conversationId}/messages?${query}`, { email: 'user1@example.com' })
      assert.equal(status, 400)
      assert.equal(body.error.code, 'bad_request')
      assert.ok(Array.isArray(body.error.details.issues))
    })
  }

  test('400 for an id that is not a UUID', async () => {
    const { status } = await stack.api('/conversations/not-a-uuid/messages', { email: 'user1@example.com' })
    assert.equal(status, 400)
  })
})
