import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { after, before, describe, test } from 'node:test'
import { ADMIN, databaseSnapshot } from '../helpers/admin.ts'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * Presence (#13) through the local stack: `presence` when a user's first connection opens and
 * their last one closes, `userLeft` when their last joined connection goes away ($disconnect or a
 * 410 cleanup), what GET /conversations shows, PUT /me/presence, and the lifecycle frames
 * (`conversationOpened`) when an admin reopens a conversation or assigns a new trainer.
 */

let stack: TestStack

before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

/** Opens a connection and returns it with its connection id (the gateway's newest). */
async function open(email: string): Promise<{ client: TestClient; connectionId: string }> {
  const client = await stack.connect(email)
  return { client, connectionId: stack.ws.connectionIds().at(-1) as string }
}

/** Closes a connection and waits until the gateway has seen it go and its $disconnect has run. */
async function closeAndSettle(client: TestClient, connectionId: string): Promise<void> {
  client.close()
  await client.waitForClose()
  while (stack.ws.connectionIds().includes(connectionId)) await new Promise((resolve) => setImmediate(resolve))
  await stack.ws.idle()
}

async function conversationSeenBy(email: string, conversationId: string) {
  const { status, body } = await stack.api('/conversations', { email })
  assert.equal(status, 200)
  return body.conversations.find((c: { id: string }) => c.id === conversationId)
}

const presenceFrames = (client: TestClient) => client.frames.filter((frame) => frame.type === 'presence')

describe('presence', () => {
  let pair: Pair
  before(async () => {
    pair = await createPair(stack.db, 'presence')
  })

  test("the trainer hears the member's first connection open and their last one close, with when they were last seen", async () => {
    const trainer = await open(pair.trainer.email)
    assert.equal((await conversationSeenBy(pair.trainer.email, pair.conversationId)).online, false)

    const phone = await open(pair.member.email)
    const online = await trainer.client.nextOfType('presence')
    assert.deepEqual(online, { type: 'presence', conversationId: pair.conversationId, userId: pair.member.id, online: true, lastSeenAt: null })
    const whileOnline = await conversationSeenBy(pair.trainer.email, pair.conversationId)
    assert.deepEqual({ online: whileOnline.online, lastSeenAt: whileOnline.lastSeenAt }, { online: true, lastSeenAt: null })

    const laptop = await open(pair.member.email)
    await closeAndSettle(phone.client, phone.connectionId)
    await closeAndSettle(laptop.client, laptop.connectionId)

    const offline = await trainer.client.nextOfType('presence')
    assert.equal(offline.online, false)
    assert.equal(offline.userId, pair.member.id)
    assert.ok(!Number.isNaN(Date.parse(offline.lastSeenAt)))
    assert.deepEqual(presenceFrames(trainer.client), [], 'a second connection and the close of the first one say nothing')
    const afterwards = await conversationSeenBy(pair.trainer.email, pair.conversationId)
    assert.deepEqual({ online: afterwards.online, lastSeenAt: afterwards.lastSeenAt }, { online: false, lastSeenAt: offline.lastSeenAt })
    const member = await conversationSeenBy(pair.member.email, pair.conversationId)
    assert.equal(member.online, true, "the member sees the trainer's live connection")
    trainer.client.close()
  })

  test('the connecting connection itself is never posted to from its own $connect', async () => {
    const other = await createPair(stack.db, 'presence-self')
    const member = await open(other.member.email)
    const trainer = await open(other.trainer.email)
    await member.client.nextOfType('presence')
    // A round trip on the trainer's connection: anything posted during its $connect is in by now.
    await trainer.client.request({ action: 'joinConversation', conversationId: other.conversationId })
    assert.deepEqual(presenceFrames(trainer.client), [])
    member.client.close()
    trainer.client.close()
  })

  test("userLeft reaches the other participant when the member's last joined connection closes", async () => {
    const other = await createPair(stack.db, 'presence-left')
    const { conversationId } = other
    const trainer = await open(other.trainer.email)
    await trainer.client.request({ action: 'joinConversation', conversationId })
    const phone = await open(other.member.email)
    await phone.client.request({ action: 'joinConversation', conversationId })
    const laptop = await open(other.member.email)
    await laptop.client.request({ action: 'joinConversation', conversationId })
    const watch = await open(other.member.email) // live, but never joined
    await trainer.client.nextOfType('userJoined')
    await trainer.client.nextOfType('userJoined')

    await closeAndSettle(phone.client, phone.connectionId)
    assert.deepEqual(trainer.client.frames.filter((f) => f.type === 'userLeft'), [], 'the laptop is still joined')
    await closeAndSettle(laptop.client, laptop.connectionId)

    assert.deepEqual(await trainer.client.nextOfType('userLeft'), { type: 'userLeft', conversationId, userId: other.member.id })
    assert.deepEqual(presenceFrames(trainer.client).filter((f) => !f.online), [], 'the watch keeps the member online')
    watch.client.close()
    trainer.client.close()
  })

  test('a connection API Gateway reports gone (410) during fan-out yields userLeft and presence offline', async () => {
    const other = await createPair(stack.db, 'presence-gone')
    const { conversationId } = other
    const trainer = await open(other.trainer.email)
    await trainer.client.request({ action: 'joinConversation', conversationId })
    const member = await open(other.member.email)
    await member.client.request({ action: 'joinConversation', conversationId })
    await trainer.client.nextOfType('presence')
    stack.ws.dropWithoutDisconnect(member.connectionId)

    const ack = await trainer.client.request({ action: 'sendMessage', conversationId, clientMessageId: 'gone-1', body: 'still there?' })

    assert.equal(ack.type, 'newMessage')
    assert.deepEqual(await trainer.client.nextOfType('userLeft'), { type: 'userLeft', conversationId, userId: other.member.id })
    const offline = await trainer.client.nextOfType('presence')
    assert.deepEqual({ online: offline.online, userId: offline.userId }, { online: false, userId: other.member.id })
    const row = await stack.db.selectFrom('connections').where('connection_id', '=', member.connectionId).selectAll().executeTakeFirst()
    assert.equal(row, undefined)
    trainer.client.close()
  })

  test('a 410 from a connection that may still be inside its $connect keeps its row; an older one is forgotten', async () => {
    // API Gateway answers 410 for a connection whose $connect is still running, and its row is
    // already written: a fan-out then must not delete it (the new connection would be refused
    // `unauthorized` on its first action). A row past any $connect (30 s) is really gone.
    const other = await createPair(stack.db, 'presence-connecting')
    const { conversationId } = other
    const trainer = await open(other.trainer.email)
    await trainer.client.request({ action: 'joinConversation', conversationId })
    const expires = new Date(Date.now() + 3_600_000)
    const connecting = `connecting-${randomUUID()}`
    const stale = `stale-${randomUUID()}`
    await stack.db.insertInto('connections').values([
      { connection_id: connecting, user_id: other.member.id, expires_at: expires },
      { connection_id: stale, user_id: other.member.id, expires_at: expires, connected_at: new Date(Date.now() - 60_000) as never },
    ]).execute()

    const ack = await trainer.client.request({ action: 'sendMessage', conversationId, clientMessageId: 'connecting-1', body: 'anyone?' })

    assert.equal(ack.type, 'newMessage')
    // The cleanup runs after the answer: poll the table (bounded) until the stale row is gone.
    for (let i = 0; ; i++) {
      const rows = await stack.db.selectFrom('connections').select('connection_id').where('connection_id', '=', stale).execute()
      if (rows.length === 0) break
      assert.ok(i < 600, 'the stale row is forgotten')
      await delay(50)
    }
    const kept = await stack.db.selectFrom('connections').select('connection_id').where('connection_id', '=', connecting).execute()
    assert.equal(kept.length, 1, 'the connecting row stays')
    await stack.db.deleteFrom('connections').where('connection_id', '=', connecting).execute()
    trainer.client.close()
  })
})

describe('PUT /me/presence', () => {
  test('a member who hides presence appears offline with no last-seen time, live and in GET /conversations, until they share it again', async () => {
    const pair = await createPair(stack.db, 'invisible')
    const trainer = await open(pair.trainer.email)
    const member = await open(pair.member.email)
    await trainer.client.nextOfType('presence')

    const hidden = await stack.api('/me/presence', { method: 'PUT', email: pair.member.email, body: { visible: false } })

    assert.deepEqual(hidden, { status: 200, body: { visible: false } })
    assert.deepEqual(await trainer.client.nextOfType('presence'), {
      type: 'presence',
      conversationId: pair.conversationId,
      userId: pair.member.id,
      online: false,
      lastSeenAt: null,
    })
    const seen = await conversationSeenBy(pair.trainer.email, pair.conversationId)
    assert.deepEqual({ online: seen.online, lastSeenAt: seen.lastSeenAt }, { online: false, lastSeenAt: null })

    // Hidden, coming and going says nothing and shows nothing.
    await closeAndSettle(member.client, member.connectionId)
    const again = await open(pair.member.email)
    const seenLater = await conversationSeenBy(pair.trainer.email, pair.conversationId)
    assert.deepEqual({ online: seenLater.online, lastSeenAt: seenLater.lastSeenAt }, { online: false, lastSeenAt: null })

    const shared = await stack.api('/me/presence', { method: 'PUT', email: pair.member.email, body: { visible: true } })
    assert.deepEqual(shared, { status: 200, body: { visible: true } })
    const online = await trainer.client.nextOfType('presence')
    assert.deepEqual({ online: online.online, lastSeenAt: online.lastSeenAt }, { online: true, lastSeenAt: null })
    assert.deepEqual(presenceFrames(trainer.client), [], 'nothing while hidden')
    again.client.close()
    trainer.client.close()
  })

  test('an invalid body is 400 and a disabled account 403, and neither changes anything', async () => {
    const pair = await createPair(stack.db, 'invisible-refused')
    const before = await databaseSnapshot(stack)
    for (const body of [{}, { visible: 'no' }, 'not json']) {
      const refused = await stack.api('/me/presence', { method: 'PUT', email: pair.member.email, body })
      assert.equal(refused.status, 400, JSON.stringify(body))
      assert.equal(refused.body.error.code, 'bad_request')
    }
    assert.deepEqual(await databaseSnapshot(stack), before)

    await stack.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', pair.member.id).execute()
    const disabled = await databaseSnapshot(stack)
    const refused = await stack.api('/me/presence', { method: 'PUT', email: pair.member.email, body: { visible: false } })
    assert.equal(refused.status, 403)
    assert.deepEqual(await databaseSnapshot(stack), disabled)
  })
})

describe('lifecycle frames', () => {
  const admin = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, email: ADMIN })

  test('reopening a conversation tells both participants, with the conversation', async () => {
    const pair = await createPair(stack.db, 'reopen')
    const closed = await admin(`/admin/conversations/${pair.conversationId}/close`, { method: 'POST', body: { reason: 'pause' } })
    assert.equal(closed.status, 200)
    const member = await open(pair.member.email)
    const trainer = await open(pair.trainer.email)

    const reopened = await admin(`/admin/conversations/${pair.conversationId}/reopen`, { method: 'POST' })

    assert.equal(reopened.status, 200)
    for (const client of [member.client, trainer.client]) {
      const frame = await client.nextOfType('conversationOpened')
      assert.deepEqual(frame, {
        type: 'conversationOpened',
        conversation: { id: pair.conversationId, userId: pair.member.id, trainerId: pair.trainer.id, status: 'open', updatedAt: reopened.body.updatedAt },
      })
    }
    member.client.close()
    trainer.client.close()
  })

  test('a new trainer: the member and the new trainer hear conversationOpened, the old trainer conversationClosed only', async () => {
    const pair = await createPair(stack.db, 'reassign')
    const next = await createPair(stack.db, 'reassign-next')
    const member = await open(pair.member.email)
    const oldTrainer = await open(pair.trainer.email)
    const newTrainer = await open(next.trainer.email)

    const assigned = await admin(`/admin/users/${pair.member.id}/trainer`, { method: 'PUT', body: { trainerId: next.trainer.id } })

    assert.equal(assigned.status, 200)
    const conversationId = assigned.body.conversation.id
    assert.notEqual(conversationId, pair.conversationId)
    const expected = {
      type: 'conversationOpened',
      conversation: { id: conversationId, userId: pair.member.id, trainerId: next.trainer.id, status: 'open', updatedAt: assigned.body.conversation.updatedAt },
    }
    assert.deepEqual(await member.client.nextOfType('conversationOpened'), expected)
    assert.deepEqual(await newTrainer.client.nextOfType('conversationOpened'), expected)
    assert.equal((await member.client.nextOfType('conversationClosed')).conversationId, pair.conversationId)
    assert.equal((await oldTrainer.client.nextOfType('conversationClosed')).conversationId, pair.conversationId)
    // A round trip on the old trainer's connection after the admin's posts: nothing else came.
    await oldTrainer.client.request({ action: 'joinConversation', conversationId: pair.conversationId })
    assert.deepEqual(oldTrainer.client.frames.filter((f) => f.type === 'conversationOpened'), [])
    for (const client of [member.client, oldTrainer.client, newTrainer.client]) client.close()
  })
})
