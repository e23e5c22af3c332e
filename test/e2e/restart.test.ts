import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

let stack: TestStack
before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

test('history survives a restart on the same DATA_DIR, and seeding does not duplicate anything', async () => {
  const conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  const member = await stack.connect('user1@example.com')
  const ack = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'persist-1', body: 'still here?' })
  const usersBefore = await stack.db.selectFrom('users').select('id').execute()

  await stack.restart()

  const again = await stack.connect('user1@example.com')
  const history = await again.request({ action: 'joinConversation', conversationId })
  assert.deepEqual(history.messages.map((m: { id: string }) => m.id), [ack.message.id])
  const usersAfter = await stack.db.selectFrom('users').select('id').execute()
  assert.equal(usersAfter.length, usersBefore.length)
  const conversations = await stack.db.selectFrom('conversations').select('id').execute()
  assert.equal(conversations.length, 2)
  again.close()
})
