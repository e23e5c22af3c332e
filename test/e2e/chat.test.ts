import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/** The chat protocol end to end: real WebSocket clients through the local stack. */

let stack: TestStack
let conversationId: string
let user1Id: string
let trainer1Id: string

before(async () => {
  stack = await startTestStack()
  const conversations = await stack.api('/conversations', { email: 'user1@example.com' })
  conversationId = conversations.body.conversations[0].id
  user1Id = conversations.body.conversations[0].userId
  trainer1Id = conversations.body.conversations[0].trainerId
})
after(() => stack.close())

describe('a member and their trainer chatting', () => {
  test('joining answers the joiner with history and tells the other participant', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const member = await stack.connect('user1@example.com')

    const history = await member.request({ action: 'joinConversation', conversationId })

    assert.equal(history.type, 'conversationHistory')
    assert.equal(history.conversationId, conversationId)
    assert.ok(Array.isArray(history.messages))
    assert.equal(typeof history.hasMore, 'boolean')
    const joined = await trainer.nextOfType('userJoined')
    assert.deepEqual(joined, { type: 'userJoined', conversationId, userId: user1Id })
    member.close()
    trainer.close()
  })

  test('a sent message is acknowledged to the sender and delivered to the joined trainer', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const member = await stack.connect('user1@example.com')

    const ack = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'hello-1', body: '  Hi coach!  ' })

    assert.equal(ack.type, 'newMessage')
    assert.equal(ack.message.body, 'Hi coach!', 'body is trimmed')
    assert.equal(ack.message.senderId, user1Id)
    assert.equal(ack.message.conversationId, conversationId)
    assert.equal(ack.message.clientMessageId, 'hello-1')
    assert.equal(ack.message.readAt, null)
    assert.ok(Number.isInteger(ack.message.seq) && ack.message.seq > 0)
    assert.ok(!Number.isNaN(Date.parse(ack.message.createdAt)))
    const delivered = await trainer.nextOfType('newMessage')
    assert.deepEqual(delivered.message, ack.message)
    assert.equal(delivered.requestId, undefined, 'requestId is echoed only to the caller')
    member.close()
    trainer.close()
  })

  test('a trainer device that has not joined gets a notification instead of the message', async () => {
    const trainerElsewhere = await stack.connect('trainer1@example.com')
    const member = await stack.connect('user1@example.com')

    const ack = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'notify-1', body: 'x'.repeat(150) })

    const notification = await trainerElsewhere.nextOfType('newMessageNotification')
    assert.equal(notification.conversationId, conversationId)
    assert.equal(notification.messageId, ack.message.id)
    assert.equal(notification.senderId, user1Id)
    assert.ok(notification.preview.length <= 100, 'preview is shortened')
    assert.deepEqual(await trainerElsewhere.quiet(200, (f) => f.type === 'newMessage'), [])
    member.close()
    trainerElsewhere.close()
  })

  test('every joined device of both participants receives the message exactly once', async () => {
    const memberPhone = await stack.connect('user1@example.com')
    const memberTablet = await stack.connect('user1@example.com')
    const trainer = await stack.connect('trainer1@example.com')
    for (const client of [memberPhone, memberTablet, trainer]) await client.request({ action: 'joinConversation', conversationId })

    const ack = await trainer.request({ action: 'sendMessage', conversationId, clientMessageId: 'devices-1', body: 'Leg day tomorrow' })

    for (const device of [memberPhone, memberTablet]) {
      const frame = await device.nextOfType('newMessage')
      assert.equal(frame.message.id, ack.message.id)
      assert.deepEqual(await device.quiet(150, (f) => f.type === 'newMessage'), [], 'no second copy')
    }
    assert.deepEqual(await trainer.quiet(150, (f) => f.type === 'newMessage'), [], 'sender gets only its ack')
    for (const client of [memberPhone, memberTablet, trainer]) client.close()
  })

  test('a retried clientMessageId stores nothing new and answers with the original message', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const member = await stack.connect('user1@example.com')
    const first = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'retry-1', body: 'once' })
    await trainer.nextOfType('newMessage')

    const retry = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'retry-1', body: 'once' })

    assert.deepEqual(retry.message, first.message)
    assert.deepEqual(await trainer.quiet(250, (f) => f.type === 'newMessage'), [], 'the trainer is not told twice')
    const stored = await stack.db.selectFrom('messages').where('client_message_id', '=', 'retry-1').select('id').execute()
    assert.equal(stored.length, 1)
    member.close()
    trainer.close()
  })

  test('typing reaches the other participant only, and nothing is stored', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const member = await stack.connect('user1@example.com')
    await member.request({ action: 'joinConversation', conversationId })
    const before = await stack.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()

    member.send({ action: 'typing', conversationId, isTyping: true })

    const typing = await trainer.nextOfType('userTyping')
    assert.deepEqual(typing, { type: 'userTyping', conversationId, userId: user1Id, isTyping: true })
    assert.deepEqual(await member.quiet(150, (f) => f.type === 'userTyping'), [])
    const afterCount = await stack.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
    assert.equal(Number(afterCount.n), Number(before.n))
    member.close()
    trainer.close()
  })

  test('markAsRead marks the other participant’s messages read and tells them', async () => {
    const member = await stack.connect('user1@example.com')
    await member.request({ action: 'joinConversation', conversationId })
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const one = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'read-1', body: 'one' })
    const two = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'read-2', body: 'two' })

    trainer.send({ action: 'markAsRead', conversationId, messageId: two.message.id })

    const receipt = await member.nextOfType('messageRead')
    assert.equal(receipt.conversationId, conversationId)
    assert.equal(receipt.messageId, two.message.id)
    assert.equal(receipt.userId, trainer1Id)
    assert.ok(!Number.isNaN(Date.parse(receipt.readAt)))
    const history = await trainer.request({ action: 'joinConversation', conversationId })
    for (const id of [one.message.id, two.message.id]) {
      assert.ok(history.messages.find((m: { id: string }) => m.id === id).readAt, 'read up to and including the message')
    }
    member.close()
    trainer.close()
  })

  test('leaving tells the other participant, and the leaver stops receiving messages', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const member = await stack.connect('user1@example.com')
    await member.request({ action: 'joinConversation', conversationId })
    await trainer.nextOfType('userJoined')

    member.send({ action: 'leaveConversation', conversationId })

    assert.deepEqual(await trainer.nextOfType('userLeft'), { type: 'userLeft', conversationId, userId: user1Id })
    await trainer.request({ action: 'sendMessage', conversationId, clientMessageId: 'after-leave', body: 'still there?' })
    const notification = await member.nextOfType('newMessageNotification')
    assert.equal(notification.conversationId, conversationId)
    assert.deepEqual(await member.quiet(150, (f) => f.type === 'newMessage'), [])
    member.close()
    trainer.close()
  })

  test('concurrent sends from both sides get unique, gap-free seq numbers', async () => {
    const member = await stack.connect('user1@example.com')
    const trainer = await stack.connect('trainer1@example.com')
    const { last_seq: startSeq } = await stack.db
      .selectFrom('conversations').where('id', '=', conversationId).select('last_seq').executeTakeFirstOrThrow()

    const acks = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? member : trainer).request({ action: 'sendMessage', conversationId, clientMessageId: `burst-${i}`, body: `#${i}` }),
      ),
    )

    const seqs = acks.map((ack) => ack.message.seq).sort((a, b) => a - b)
    assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => startSeq + i + 1))
    member.close()
    trainer.close()
  })

  test('twenty copies of one clientMessageId sent at once store one message', async () => {
    const member = await stack.connect('user1@example.com')

    const acks = await Promise.all(
      Array.from({ length: 20 }, () =>
        member.request({ action: 'sendMessage', conversationId, clientMessageId: 'storm-1', body: 'same' }),
      ),
    )

    assert.equal(new Set(acks.map((ack) => ack.type)).size, 1)
    assert.equal(new Set(acks.map((ack) => ack.message.id)).size, 1)
    const stored = await stack.db.selectFrom('messages').where('client_message_id', '=', 'storm-1').selectAll().execute()
    assert.equal(stored.length, 1)
    member.close()
  })

  test('a connection API Gateway reports gone (410) is removed during fan-out', async () => {
    const stale = await stack.connect('trainer1@example.com')
    await stale.request({ action: 'joinConversation', conversationId })
    const staleId = stack.ws.connectionIds().at(-1) as string
    stack.ws.dropWithoutDisconnect(staleId)
    const member = await stack.connect('user1@example.com')

    const ack = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'gone-1', body: 'anyone?' })

    assert.equal(ack.type, 'newMessage', 'the sender is unaffected')
    await stack.ws.idle()
    const row = await stack.db.selectFrom('connections').where('connection_id', '=', staleId).selectAll().executeTakeFirst()
    assert.equal(row, undefined)
    member.close()
  })

  test('a hot path action is one database statement', async () => {
    const member = await stack.connect('user1@example.com')
    await member.request({ action: 'joinConversation', conversationId })
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    await stack.ws.idle()
    const count = async (run: () => Promise<unknown>) => {
      await stack.ws.idle()
      stack.statements.length = 0
      await run()
      await stack.ws.idle()
      return stack.statements.length
    }

    const sendCount = await count(() => member.request({ action: 'sendMessage', conversationId, clientMessageId: 'count-1', body: 'hi' }))
    const last = await stack.db.selectFrom('messages').where('client_message_id', '=', 'count-1').select('id').executeTakeFirstOrThrow()
    const typingCount = await count(async () => {
      member.send({ action: 'typing', conversationId, isTyping: true })
      await trainer.nextOfType('userTyping')
    })
    const readCount = await count(async () => {
      trainer.send({ action: 'markAsRead', conversationId, messageId: last.id })
      await member.nextOfType('messageRead')
    })
    const joinCount = await count(() => member.request({ action: 'joinConversation', conversationId }))
    let third: Awaited<ReturnType<TestStack['connect']>> | undefined
    const connectCount = await count(async () => (third = await stack.connect('user1@example.com')))
    third?.close()

    assert.deepEqual(
      { sendCount, typingCount, readCount, joinCount, connectCount },
      { sendCount: 1, typingCount: 1, readCount: 1, joinCount: 1, connectCount: 1 },
    )
    member.close()
    trainer.close()
  })
})
