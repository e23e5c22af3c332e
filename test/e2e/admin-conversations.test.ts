import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { ADMIN, auditRows, databaseSnapshot, userId } from '../helpers/admin.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/** Watching over conversations and moderating them: listing, full history, closing, reopening, removing messages. */

let stack: TestStack
let member: string
let trainer: string
let otherTrainer: string
/** user1 with trainer1: the conversation the tests moderate. */
let conversationId: string
let allConversationIds: string[]

const admin = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, email: ADMIN })

before(async () => {
  stack = await startTestStack()
  member = await userId(stack, 'user1@example.com')
  trainer = await userId(stack, 'trainer1@example.com')
  otherTrainer = await userId(stack, 'trainer2@example.com')
  // Three more members with trainer2, so there is something to page through.
  for (const email of ['page-a@example.com', 'page-b@example.com', 'page-c@example.com']) {
    const assigned = await admin(`/admin/users/${await userId(stack, email)}/trainer`, { method: 'PUT', body: { trainerId: otherTrainer } })
    assert.equal(assigned.status, 200)
  }
  conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  const memberClient = await stack.connect('user1@example.com')
  const trainerClient = await stack.connect('trainer1@example.com')
  for (let i = 1; i <= 4; i++) {
    const client = i % 2 ? memberClient : trainerClient
    await client.request({ action: 'sendMessage', conversationId, clientMessageId: `seed-${i}`, body: `message ${i}` })
  }
  memberClient.close()
  trainerClient.close()
  allConversationIds = (await admin('/admin/conversations?limit=100')).body.conversations.map((c: { id: string }) => c.id)
})
after(() => stack.close())

describe('GET /admin/conversations', () => {
  test('lists every conversation with participants, status, message count and last activity, most recent first', async () => {
    const { status, body } = await admin('/admin/conversations')

    assert.equal(status, 200)
    assert.equal(body.conversations.length, 5)
    assert.equal(body.nextCursor, null)
    const [latest] = body.conversations
    assert.equal(latest.id, conversationId)
    assert.deepEqual(
      { status: latest.status, member: latest.member.email, trainer: latest.trainer.email, messageCount: latest.messageCount },
      { status: 'open', member: 'user1@example.com', trainer: 'trainer1@example.com', messageCount: 4 },
    )
    assert.ok(!Number.isNaN(Date.parse(latest.lastMessageAt)))
    assert.equal(latest.closedAt, null)
    const times = body.conversations.map((c: { updatedAt: string }) => Date.parse(c.updatedAt))
    assert.deepEqual(times, [...times].sort((a, b) => b - a))
  })

  test('filters by status, trainer and member', async () => {
    const byTrainer = await admin(`/admin/conversations?trainerId=${otherTrainer}`)
    assert.equal(byTrainer.body.conversations.length, 4)
    assert.ok(byTrainer.body.conversations.every((c: { trainer: { id: string } }) => c.trainer.id === otherTrainer))

    const byMember = await admin(`/admin/conversations?userId=${member}`)
    assert.deepEqual(byMember.body.conversations.map((c: { id: string }) => c.id), [conversationId])

    const closed = await admin(`/admin/conversations?status=closed&trainerId=${trainer}`)
    assert.deepEqual(closed.body.conversations, [])
  })

  test('pages through with an opaque cursor, each conversation exactly once and in order', async () => {
    // limit=1 also walks across the seeded conversations, which share one updated_at: the id breaks the tie.
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor ? `&cursor=${cursor}` : ''
      const { status, body } = await admin(`/admin/conversations?limit=1${query}`)
      assert.equal(status, 200)
      seen.push(...body.conversations.map((c: { id: string }) => c.id))
      cursor = body.nextCursor
    } while (cursor && seen.length <= allConversationIds.length)
    assert.deepEqual(seen, allConversationIds)
  })

  const garbageCursor = Buffer.from(JSON.stringify({ at: 'yesterday', id: 'x' })).toString('base64url')
  for (const query of ['status=pending', 'limit=0', 'limit=101', 'limit=ten', 'trainerId=42', 'userId=me', 'cursor=%%%', `cursor=${garbageCursor}`]) {
    test(`400 for ?${query}`, async () => {
      const { status, body } = await admin(`/admin/conversations?${query}`)
      assert.equal(status, 400)
      assert.equal(body.error.code, 'bad_request')
      assert.equal(body.error.details.issues[0].in, 'query')
    })
  }
})

describe('GET /admin/conversations/{id}/messages', () => {
  test('returns the full history, paged backwards by seq', async () => {
    const first = await admin(`/admin/conversations/${conversationId}/messages?limit=3`)
    assert.equal(first.status, 200)
    assert.deepEqual(first.body.messages.map((m: { body: string }) => m.body), ['message 2', 'message 3', 'message 4'])
    assert.equal(first.body.hasMore, true)
    const rest = await admin(`/admin/conversations/${conversationId}/messages?limit=3&before=${first.body.messages[0].seq}`)
    assert.deepEqual(rest.body.messages.map((m: { body: string }) => m.body), ['message 1'])
    assert.equal(rest.body.hasMore, false)
  })

  test('404 for a conversation that does not exist, 400 for an id that is not one', async () => {
    const missing = await admin(`/admin/conversations/${randomUUID()}/messages`)
    assert.equal(missing.status, 404)
    assert.equal(missing.body.error.code, 'not_found')
    assert.equal((await admin('/admin/conversations/nope/messages')).status, 400)
    assert.equal((await admin(`/admin/conversations/${conversationId}/messages?limit=0`)).status, 400)
  })
})

describe('closing and reopening with the participants watching', () => {
  test('closing tells every live connection of both participants and makes the conversation read-only', async () => {
    const memberClient = await stack.connect('user1@example.com')
    await memberClient.request({ action: 'joinConversation', conversationId })
    const trainerClient = await stack.connect('trainer1@example.com')
    await trainerClient.request({ action: 'joinConversation', conversationId })
    const trainerPhone = await stack.connect('trainer1@example.com')
    const messagesBefore = await messageCount()

    const { status, body } = await admin(`/admin/conversations/${conversationId}/close`, {
      method: 'POST',
      body: { reason: '  Taking a break  ' },
    })

    assert.equal(status, 200)
    assert.equal(body.status, 'closed')
    assert.equal(body.closedReason, 'Taking a break')
    assert.ok(!Number.isNaN(Date.parse(body.closedAt)))
    const expected = { type: 'conversationClosed', conversationId, reason: 'Taking a break' }
    for (const client of [memberClient, trainerClient, trainerPhone]) assert.deepEqual(await client.nextOfType('conversationClosed'), expected)

    const refused = await memberClient.request({ action: 'sendMessage', conversationId, clientMessageId: 'after-close', body: 'hello?' })
    assert.equal(refused.type, 'error')
    assert.equal(refused.code, 'conversation_closed')
    assert.equal(await messageCount(), messagesBefore)

    const history = await stack.api(`/conversations/${conversationId}/messages`, { email: 'user1@example.com' })
    assert.equal(history.status, 200, 'history stays readable')
    assert.equal(history.body.messages.length, 4)
    const rejoined = await trainerClient.request({ action: 'joinConversation', conversationId })
    assert.equal(rejoined.type, 'conversationHistory')
    const mine = await stack.api('/conversations', { email: 'user1@example.com' })
    assert.equal(mine.body.conversations[0].status, 'closed')

    const [entry] = (await admin('/admin/audit?limit=1')).body.entries
    assert.deepEqual(
      { action: entry.action, targetType: entry.targetType, targetId: entry.targetId, reason: entry.reason, actor: entry.actor.email },
      { action: 'conversation.closed', targetType: 'conversation', targetId: conversationId, reason: 'Taking a break', actor: ADMIN },
    )
    for (const client of [memberClient, trainerClient, trainerPhone]) client.close()
  })

  test('closing a closed conversation is 409 and changes nothing', async () => {
    const before = await databaseSnapshot(stack)
    const { status, body } = await admin(`/admin/conversations/${conversationId}/close`, { method: 'POST', body: { reason: 'again' } })
    assert.equal(status, 409)
    assert.equal(body.error.code, 'conflict')
    assert.deepEqual(await databaseSnapshot(stack), before)
  })

  test('the closed conversation shows in the admin list filtered by status', async () => {
    const { body } = await admin('/admin/conversations?status=closed')
    assert.deepEqual(body.conversations.map((c: { id: string }) => c.id), [conversationId])
  })

  test('reopening is refused while the pair has another open conversation', async () => {
    const other = await stack.db
      .insertInto('conversations')
      .values({ member_id: member, trainer_id: trainer })
      .returning('id')
      .executeTakeFirstOrThrow()
    const before = await databaseSnapshot(stack)

    const { status, body } = await admin(`/admin/conversations/${conversationId}/reopen`, { method: 'POST' })

    assert.equal(status, 409)
    assert.equal(body.error.details.openConversationId, other.id)
    assert.deepEqual(await databaseSnapshot(stack), before)
    await stack.db.deleteFrom('conversations').where('id', '=', other.id).execute()
  })

  test('reopening lets the participants chat again', async () => {
    const { status, body } = await admin(`/admin/conversations/${conversationId}/reopen`, { method: 'POST' })

    assert.equal(status, 200)
    assert.deepEqual({ status: body.status, closedAt: body.closedAt, closedReason: body.closedReason }, { status: 'open', closedAt: null, closedReason: null })
    const trainerClient = await stack.connect('trainer1@example.com')
    await trainerClient.request({ action: 'joinConversation', conversationId })
    const memberClient = await stack.connect('user1@example.com')
    const ack = await memberClient.request({ action: 'sendMessage', conversationId, clientMessageId: 'after-reopen', body: 'back again' })
    assert.equal(ack.type, 'newMessage')
    assert.equal((await trainerClient.nextOfType('newMessage')).message.id, ack.message.id)
    assert.equal((await admin('/admin/audit?limit=1')).body.entries[0].action, 'conversation.reopened')
    memberClient.close()
    trainerClient.close()
  })

  test('reopening an open conversation is 409', async () => {
    const { status } = await admin(`/admin/conversations/${conversationId}/reopen`, { method: 'POST' })
    assert.equal(status, 409)
  })

  const invalidCloses: Array<[string, string, unknown, number]> = [
    ['no reason', 'close', {}, 400],
    ['a blank reason', 'close', { reason: '   ' }, 400],
    ['a reason over 500 characters', 'close', { reason: 'x'.repeat(501) }, 400],
    ['a reason that is not a string', 'close', { reason: 7 }, 400],
    ['a body that is not JSON', 'close', '{reason', 400],
  ]
  for (const [what, action, body, expected] of invalidCloses) {
    test(`closing with ${what} is ${expected} and changes nothing`, async () => {
      const before = await databaseSnapshot(stack)
      const reply = await admin(`/admin/conversations/${conversationId}/${action}`, { method: 'POST', body })
      assert.equal(reply.status, expected)
      assert.equal(reply.body.error.code, 'bad_request')
      assert.deepEqual(await databaseSnapshot(stack), before)
    })
  }

  test('closing or reopening a conversation that does not exist is 404', async () => {
    const close = await admin(`/admin/conversations/${randomUUID()}/close`, { method: 'POST', body: { reason: 'x' } })
    const reopen = await admin(`/admin/conversations/${randomUUID()}/reopen`, { method: 'POST' })
    assert.deepEqual([close.status, reopen.status], [404, 404])
    assert.equal((await admin('/admin/conversations/123/close', { method: 'POST', body: { reason: 'x' } })).status, 400)
  })
})

describe('DELETE /admin/messages/{id}', () => {
  let rudeId: string

  test('removing a message tells the live participants and withholds it from them', async () => {
    const memberClient = await stack.connect('user1@example.com')
    await memberClient.request({ action: 'joinConversation', conversationId })
    const trainerClient = await stack.connect('trainer1@example.com')
    const sent = await memberClient.request({ action: 'sendMessage', conversationId, clientMessageId: 'rude-1', body: 'something rude' })
    rudeId = sent.message.id

    const { status, body } = await admin(`/admin/messages/${rudeId}`, { method: 'DELETE', body: { reason: 'Insulting' } })

    assert.equal(status, 200)
    assert.equal(body.body, 'something rude', 'the admin still sees the original')
    assert.equal(body.removed, true)
    assert.equal(body.hiddenReason, 'Insulting')
    assert.equal(body.hiddenBy.email, ADMIN)
    const expected = { type: 'messageRemoved', conversationId, messageId: rudeId }
    assert.deepEqual(await memberClient.nextOfType('messageRemoved'), expected)
    assert.deepEqual(await trainerClient.nextOfType('messageRemoved'), expected)

    const history = await stack.api(`/conversations/${conversationId}/messages`, { email: 'trainer1@example.com' })
    const seen = history.body.messages.find((m: { id: string }) => m.id === rudeId)
    assert.deepEqual({ body: seen.body, removed: seen.removed }, { body: '', removed: true })
    const joined = await memberClient.request({ action: 'joinConversation', conversationId })
    assert.equal(joined.messages.find((m: { id: string }) => m.id === rudeId).body, '')
    const summary = (await stack.api('/conversations', { email: 'trainer1@example.com' })).body.conversations[0]
    assert.deepEqual({ id: summary.lastMessage.id, body: summary.lastMessage.body }, { id: rudeId, body: '' })
    memberClient.close()
    trainerClient.close()
  })

  test('the admin history shows the original with who removed it and why', async () => {
    const { body } = await admin(`/admin/conversations/${conversationId}/messages`)
    const removed = body.messages.find((m: { id: string }) => m.id === rudeId)
    assert.equal(removed.body, 'something rude')
    assert.equal(removed.removed, true)
    assert.equal(removed.hiddenReason, 'Insulting')
    assert.deepEqual(removed.hiddenBy, { id: await userId(stack, ADMIN), email: ADMIN, displayName: 'Ada Admin' })
    assert.ok(!Number.isNaN(Date.parse(removed.hiddenAt)))
    const untouched = body.messages.find((m: { body: string }) => m.body === 'message 1')
    assert.deepEqual([untouched.removed, untouched.hiddenBy, untouched.hiddenReason], [false, null, null])
  })

  test('the removal is in the audit trail', async () => {
    const row = (await auditRows(stack)).at(-1)
    assert.equal(row?.action, 'message.hidden')
    assert.equal(row?.target_id, rudeId)
    assert.equal(row?.reason, 'Insulting')
    assert.equal(row?.details.conversationId, conversationId)
  })

  test('removing it again is 409, an unknown message 404, and no reason 400; none changes anything', async () => {
    const before = await databaseSnapshot(stack)
    const again = await admin(`/admin/messages/${rudeId}`, { method: 'DELETE', body: { reason: 'twice' } })
    const unknown = await admin(`/admin/messages/${randomUUID()}`, { method: 'DELETE', body: { reason: 'x' } })
    const noReason = await admin(`/admin/messages/${rudeId}`, { method: 'DELETE', body: {} })
    assert.deepEqual([again.status, unknown.status, noReason.status], [409, 404, 400])
    assert.deepEqual(await databaseSnapshot(stack), before)
  })
})

async function messageCount(): Promise<number> {
  const row = await stack.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  return Number(row.n)
}
