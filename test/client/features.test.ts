import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { startExchange, until, type Exchange } from './support.ts'

/** The rest of the SDK's surface, end to end: files, read receipts, typing, older history, presence, lifecycle. */

let stack: TestStack
let exchange: Exchange
before(async () => {
  stack = await startTestStack()
  exchange = await startExchange(stack, 'sdk-features')
})
after(async () => {
  await exchange.close()
  await stack.close()
})

test('sendFile asks for a grant, uploads the bytes and sends the message that carries them', async () => {
  const { member, trainer, pair } = exchange
  const photo = randomBytes(3000)

  const stored = await member.client.conversation(pair.conversationId).sendFile(photo, { fileName: 'squat.png', contentType: 'image/png', body: 'form check' })

  assert.equal(stored.attachment?.fileName, 'squat.png')
  assert.equal(stored.body, 'form check')
  await until(() => trainer.received.some((m) => m.id === stored.id), 'the trainer got it')
  const received = trainer.received.find((m) => m.id === stored.id)
  const download = await fetch(received?.attachment?.downloadUrl ?? '')
  assert.deepEqual(Buffer.from(await download.arrayBuffer()), photo)
})

test('markRead resolves on the server\'s ok and the other side hears it; typing reaches the other side', async () => {
  const { member, trainer, pair } = exchange
  const reads: string[] = []
  const typing: boolean[] = []
  member.client.conversation(pair.conversationId).on('read', (r) => reads.push(r.messageId))
  member.client.conversation(pair.conversationId).on('typing', (t) => typing.push(t.isTyping))
  const sent = await member.client.conversation(pair.conversationId).send('read me')
  await until(() => trainer.received.some((m) => m.id === sent.id), 'delivered')

  await trainer.client.conversation(pair.conversationId).markRead(sent.id)
  trainer.client.conversation(pair.conversationId).typing(true)

  await until(() => reads.includes(sent.id) && typing.includes(true), 'the read receipt and the typing indicator')
})

test('history({ before }) pages back through older messages over REST', async () => {
  const { member, pair } = exchange
  const conversation = member.client.conversation(pair.conversationId)
  for (let i = 0; i < 4; i++) await conversation.send(`older ${i}`)
  const last = conversation.lastSeq ?? 0

  const page = await conversation.history({ before: last, limit: 2 })

  assert.deepEqual(page.messages.map((m) => m.seq).sort((a, b) => a - b), [last - 2, last - 1])
  assert.equal(page.hasMore, true)
})

test('replies, edits, deletes and reactions: each method resolves with what now holds and the other side gets an update', async () => {
  const { member, trainer, pair } = exchange
  const memberSide = member.client.conversation(pair.conversationId)
  const trainerSide = trainer.client.conversation(pair.conversationId)
  const updates: Array<{ type: string; messageId: string }> = []
  trainerSide.on('update', (update) => updates.push(update))
  const plan = await memberSide.send('Is 5x5 right?')
  await until(() => trainer.received.some((m) => m.id === plan.id), 'delivered')

  const answer = await trainerSide.send('Yes', { replyToId: plan.id })
  const edited = await memberSide.edit(plan.id, 'Is 5x5 right for squats?')
  const reactions = await memberSide.react(answer.id, '👍')
  await memberSide.delete(plan.id)

  assert.deepEqual(answer.replyTo, { id: plan.id, senderId: plan.senderId, preview: 'Is 5x5 right?' })
  assert.equal(edited.body, 'Is 5x5 right for squats?')
  assert.ok(edited.editedAt)
  assert.deepEqual(reactions, [{ emoji: '👍', userIds: [plan.senderId] }])
  await until(() => updates.length >= 3, 'the trainer heard the edit, the reaction and the delete')
  // Each frame is posted in parallel with the answer to its request, so they may overtake each other.
  assert.deepEqual(updates.map((u) => `${u.type} ${u.messageId}`).sort(), [`deleted ${plan.id}`, `edited ${plan.id}`, `reactions ${answer.id}`].sort())
})

test('presence and conversationOpened reach the app as events, on the client and on the conversation', async () => {
  const { member, pair } = exchange
  const onClient: Array<{ online: boolean }> = []
  const onConversation: Array<{ userId: string; online: boolean; lastSeenAt: string | null }> = []
  const opened: string[] = []
  member.client.on('presence', (frame) => onClient.push(frame))
  member.client.conversation(pair.conversationId).on('online', (change) => onConversation.push(change))
  member.client.on('conversationOpened', (conversation) => opened.push(conversation.id))

  // The trainer hides presence, then shares it again: the member hears offline, then online.
  assert.equal((await stack.api('/me/presence', { method: 'PUT', email: pair.trainer.email, body: { visible: false } })).status, 200)
  assert.equal((await stack.api('/me/presence', { method: 'PUT', email: pair.trainer.email, body: { visible: true } })).status, 200)
  await until(() => onConversation.length === 2, 'two presence changes')
  assert.deepEqual(onConversation, [
    { userId: pair.trainer.id, online: false, lastSeenAt: null },
    { userId: pair.trainer.id, online: true, lastSeenAt: null },
  ])
  assert.deepEqual(onClient.map((frame) => frame.online), [false, true])

  const admin = { email: 'admin@example.com' }
  assert.equal((await stack.api(`/admin/conversations/${pair.conversationId}/close`, { ...admin, method: 'POST', body: { reason: 'pause' } })).status, 200)
  assert.equal((await stack.api(`/admin/conversations/${pair.conversationId}/reopen`, { ...admin, method: 'POST' })).status, 200)
  await until(() => opened.includes(pair.conversationId), 'conversationOpened')
})
