import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { after, before, describe, test } from 'node:test'
import { ADMIN } from '../helpers/admin.ts'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * editMessage, deleteMessage, replies and reactions end to end: real WebSocket clients through the
 * local stack, each test on a fresh member–trainer pair. Every refusal is checked to leave the
 * conversation's rows exactly as they were, and to reach nobody but the caller.
 */

let stack: TestStack

before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

/** A pair with both participants connected and joined. */
async function joinedPair(): Promise<{ pair: Pair; member: TestClient; trainer: TestClient }> {
  const pair = await createPair(stack.db, 'msg')
  const member = await stack.connect(pair.member.email)
  const trainer = await stack.connect(pair.trainer.email)
  await member.request({ action: 'joinConversation', conversationId: pair.conversationId })
  await trainer.request({ action: 'joinConversation', conversationId: pair.conversationId })
  await member.nextOfType('userJoined')
  return { pair, member, trainer }
}

async function send(client: TestClient, conversationId: string, body: string, extra: Record<string, unknown> = {}) {
  const ack = await client.request({ action: 'sendMessage', conversationId, clientMessageId: `c-${Math.random()}`, body, ...extra })
  assert.equal(ack.type, 'newMessage', JSON.stringify(ack))
  return ack.message as Record<string, any>
}

/** Moves the clock for one message: it was sent this many seconds ago. */
async function sentAgo(messageId: string, seconds: number): Promise<void> {
  await sql`UPDATE messages SET created_at = now() - ${seconds}::int * interval '1 second' WHERE id = ${messageId}`.execute(stack.db)
}

/** Every row a message action may change, for one conversation. */
async function rowsOf(conversationId: string): Promise<unknown> {
  const { rows } = await sql<{ snapshot: unknown }>`
    SELECT json_build_object(
      'messages', (SELECT json_agg(m ORDER BY m.seq) FROM messages m WHERE m.conversation_id = ${conversationId}),
      'edits', (SELECT json_agg(e ORDER BY e.id) FROM message_edits e JOIN messages m ON m.id = e.message_id WHERE m.conversation_id = ${conversationId}),
      'conversation', (SELECT row_to_json(c) FROM conversations c WHERE c.id = ${conversationId})
    ) AS snapshot`.execute(stack.db)
  return rows[0]?.snapshot
}

/** Sends a frame that must be refused: the error frame it gets, after checking nothing changed and nobody else heard. */
async function refused(client: TestClient, frame: Record<string, unknown>, conversationId: string, bystanders: TestClient[] = []) {
  const before = await rowsOf(conversationId)
  const reply = await client.request(frame)
  assert.equal(reply.type, 'error', JSON.stringify(reply))
  await stack.ws.idle()
  assert.deepEqual(await rowsOf(conversationId), before, 'a refusal changes nothing')
  for (const other of bystanders) {
    assert.deepEqual(other.frames.filter((f) => ['messageUpdated', 'messageDeleted', 'reactionChanged'].includes(f.type)), [], 'nobody else hears of it')
  }
  assert.deepEqual(client.frames.filter((f) => f.requestId === reply.requestId), [], 'exactly one answer')
  return reply
}

async function closeConversation(conversationId: string): Promise<void> {
  const closed = await stack.api(`/admin/conversations/${conversationId}/close`, { method: 'POST', email: ADMIN, body: { reason: 'done' } })
  assert.equal(closed.status, 200, JSON.stringify(closed.body))
}

async function adminHistory(conversationId: string) {
  const history = await stack.api(`/admin/conversations/${conversationId}/messages`, { email: ADMIN })
  assert.equal(history.status, 200, JSON.stringify(history.body))
  return history.body.messages as Array<Record<string, any>>
}

async function participantHistory(client: TestClient, conversationId: string) {
  const history = await client.request({ action: 'joinConversation', conversationId })
  return history.messages as Array<Record<string, any>>
}

describe('editMessage', () => {
  test('the sender edits a message: the caller and every joined connection get messageUpdated with editedAt', async () => {
    const { pair, member, trainer } = await joinedPair()
    const memberTablet = await stack.connect(pair.member.email)
    await memberTablet.request({ action: 'joinConversation', conversationId: pair.conversationId })
    const original = await send(member, pair.conversationId, 'Squats 3x10')
    await trainer.nextOfType('newMessage')

    const answer = await member.request({ action: 'editMessage', conversationId: pair.conversationId, messageId: original.id, body: '  Squats 4x8 ' })

    assert.equal(answer.type, 'messageUpdated')
    assert.equal(answer.conversationId, pair.conversationId)
    assert.equal(answer.message.id, original.id)
    assert.equal(answer.message.seq, original.seq)
    assert.equal(answer.message.body, 'Squats 4x8', 'trimmed like a sent body')
    assert.ok(!Number.isNaN(Date.parse(answer.message.editedAt ?? '')))
    for (const other of [trainer, memberTablet]) {
      const frame = await other.nextOfType('messageUpdated')
      assert.deepEqual(frame, { type: 'messageUpdated', conversationId: pair.conversationId, message: answer.message })
    }
    const [seen] = (await participantHistory(trainer, pair.conversationId)).filter((m) => m.id === original.id)
    assert.equal(seen?.body, 'Squats 4x8')
    assert.equal(seen?.editedAt, answer.message.editedAt)
  })

  test('admins see every earlier version, oldest first', async () => {
    const { pair, member } = await joinedPair()
    const original = await send(member, pair.conversationId, 'v1')
    await member.request({ action: 'editMessage', conversationId: pair.conversationId, messageId: original.id, body: 'v2' })
    const last = await member.request({ action: 'editMessage', conversationId: pair.conversationId, messageId: original.id, body: 'v3' })

    const [seen] = (await adminHistory(pair.conversationId)).filter((m) => m.id === original.id)

    assert.equal(seen?.body, 'v3')
    assert.equal(seen?.editedAt, last.message.editedAt)
    assert.deepEqual(seen?.edits.map((e: { body: string }) => e.body), ['v1', 'v2'])
    assert.equal(seen?.edits.at(-1).editedAt, last.message.editedAt, 'each version ends when the next edit was made')
  })

  test('the other participant may not edit it', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(member, pair.conversationId, 'mine')
    await trainer.nextOfType('newMessage')

    const reply = await refused(trainer, { action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body: 'yours now' }, pair.conversationId, [member])

    assert.equal(reply.code, 'forbidden')
  })

  test('after the edit window it is refused, with the window in the details', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(member, pair.conversationId, 'old news')
    // The clock, moved: the message was sent one second more than the default window (900 s) ago.
    await sentAgo(message.id, 901)

    const reply = await refused(member, { action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body: 'new news' }, pair.conversationId, [trainer])

    assert.equal(reply.code, 'forbidden')
    assert.deepEqual(reply.details, { reason: 'edit_window_passed', editWindowSeconds: 900 })
  })

  test('MESSAGE_EDIT_WINDOW_SECONDS sets the window', async () => {
    const { pair, member } = await joinedPair()
    const message = await send(member, pair.conversationId, 'typo')
    await sentAgo(message.id, 120)
    stack.reconfigure({ MESSAGE_EDIT_WINDOW_SECONDS: '60' })
    try {
      const reply = await refused(member, { action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body: 'fixed' }, pair.conversationId)
      assert.deepEqual(reply.details, { reason: 'edit_window_passed', editWindowSeconds: 60 })
    } finally {
      stack.reconfigure({})
    }
    const allowed = await member.request({ action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body: 'fixed' })
    assert.equal(allowed.type, 'messageUpdated', 'two minutes is inside the default window')
  })

  test('a deleted or removed message cannot be edited', async () => {
    const { pair, member, trainer } = await joinedPair()
    const deleted = await send(member, pair.conversationId, 'to delete')
    const removed = await send(member, pair.conversationId, 'to hide')
    await member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: deleted.id })
    const hidden = await stack.api(`/admin/messages/${removed.id}`, { method: 'DELETE', email: ADMIN, body: { reason: 'spam' } })
    assert.equal(hidden.status, 200, JSON.stringify(hidden.body))
    await stack.ws.idle()
    trainer.frames.length = 0

    for (const id of [deleted.id, removed.id]) {
      const reply = await refused(member, { action: 'editMessage', conversationId: pair.conversationId, messageId: id, body: 'back' }, pair.conversationId, [trainer])
      assert.equal(reply.code, 'conflict')
    }
  })

  test('unknown messages, messages of another conversation and non-participants are refused', async () => {
    const { pair, member, trainer } = await joinedPair()
    const other = await joinedPair()
    const elsewhere = await send(other.member, other.pair.conversationId, 'elsewhere')
    const mine = await send(member, pair.conversationId, 'here')
    const edit = (conversationId: string, messageId: string) => ({ action: 'editMessage', conversationId, messageId, body: 'x' })

    assert.equal((await refused(member, edit(pair.conversationId, crypto.randomUUID()), pair.conversationId, [trainer])).code, 'not_found')
    assert.equal((await refused(member, edit(pair.conversationId, elsewhere.id), other.pair.conversationId, [trainer])).code, 'not_found')
    assert.equal((await refused(other.member, edit(pair.conversationId, mine.id), pair.conversationId, [trainer])).code, 'forbidden')
    assert.equal((await refused(member, edit(crypto.randomUUID(), mine.id), pair.conversationId, [trainer])).code, 'not_found')
  })

  test('an empty or oversized body is refused', async () => {
    const { pair, member } = await joinedPair()
    const message = await send(member, pair.conversationId, 'fine')
    const edit = (body: string) => ({ action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body })

    assert.equal((await refused(member, edit('   '), pair.conversationId)).code, 'bad_request')
    assert.equal((await refused(member, edit('x'.repeat(4001)), pair.conversationId)).code, 'too_large')
  })

  test('closed conversations are read-only', async () => {
    const { pair, member } = await joinedPair()
    const message = await send(member, pair.conversationId, 'before closing')
    await closeConversation(pair.conversationId)

    const reply = await refused(member, { action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body: 'after' }, pair.conversationId)

    assert.equal(reply.code, 'conversation_closed')
  })
})

describe('deleteMessage', () => {
  test('the sender deletes a message: it keeps its seq with an empty body, no attachment, deletedAt; everyone joined hears', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(member, pair.conversationId, 'oops, wrong chat')
    await trainer.nextOfType('newMessage')

    const answer = await member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: message.id })

    assert.deepEqual({ ...answer, requestId: undefined }, { type: 'messageDeleted', conversationId: pair.conversationId, messageId: message.id, requestId: undefined })
    assert.deepEqual(await trainer.nextOfType('messageDeleted'), { type: 'messageDeleted', conversationId: pair.conversationId, messageId: message.id })
    const [seen] = (await participantHistory(trainer, pair.conversationId)).filter((m) => m.id === message.id)
    assert.equal(seen?.seq, message.seq)
    assert.equal(seen?.body, '')
    assert.equal(seen?.attachment, null)
    assert.ok(!Number.isNaN(Date.parse(seen?.deletedAt)))
    const next = await send(member, pair.conversationId, 'the right one')
    assert.equal(next.seq, message.seq + 1, 'seq is never reused')
  })

  test('admins still see the original of a deleted message', async () => {
    const { pair, member } = await joinedPair()
    const message = await send(member, pair.conversationId, 'regrettable')
    await member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: message.id })

    const [seen] = (await adminHistory(pair.conversationId)).filter((m) => m.id === message.id)

    assert.equal(seen?.body, 'regrettable')
    assert.ok(seen?.deletedAt)
    assert.equal(seen?.removed, false)
  })

  test('deleting again changes nothing and answers the caller alone', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(member, pair.conversationId, 'gone')
    await member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: message.id })
    await trainer.nextOfType('messageDeleted')
    const before = await rowsOf(pair.conversationId)

    const again = await member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: message.id })

    assert.equal(again.type, 'messageDeleted')
    await stack.ws.idle()
    assert.deepEqual(await rowsOf(pair.conversationId), before)
    assert.deepEqual(trainer.frames.filter((f) => f.type === 'messageDeleted'), [])
  })

  test('only the sender may delete, in an open conversation, a message of that conversation', async () => {
    const { pair, member, trainer } = await joinedPair()
    const other = await joinedPair()
    const elsewhere = await send(other.member, other.pair.conversationId, 'elsewhere')
    const message = await send(member, pair.conversationId, 'keep me')
    await trainer.nextOfType('newMessage')
    const remove = (conversationId: string, messageId: string) => ({ action: 'deleteMessage', conversationId, messageId })

    assert.equal((await refused(trainer, remove(pair.conversationId, message.id), pair.conversationId, [member])).code, 'forbidden')
    assert.equal((await refused(other.member, remove(pair.conversationId, message.id), pair.conversationId, [member, trainer])).code, 'forbidden')
    assert.equal((await refused(member, remove(pair.conversationId, crypto.randomUUID()), pair.conversationId, [trainer])).code, 'not_found')
    assert.equal((await refused(member, remove(pair.conversationId, elsewhere.id), other.pair.conversationId, [trainer])).code, 'not_found')
    await closeConversation(pair.conversationId)
    assert.equal((await refused(member, remove(pair.conversationId, message.id), pair.conversationId)).code, 'conversation_closed')
  })
})

describe('replies', () => {
  test('a reply carries replyTo with the answered message and a preview', async () => {
    const { pair, member, trainer } = await joinedPair()
    const question = await send(member, pair.conversationId, `Can I swap ${'lunges '.repeat(30)}`)
    await trainer.nextOfType('newMessage')

    const reply = await send(trainer, pair.conversationId, 'Yes, do step-ups', { replyToId: question.id })

    assert.equal(reply.replyTo.id, question.id)
    assert.equal(reply.replyTo.senderId, pair.member.id)
    assert.equal([...reply.replyTo.preview].length, 100)
    assert.ok(reply.replyTo.preview.endsWith('…'))
    assert.deepEqual((await member.nextOfType('newMessage')).message.replyTo, reply.replyTo)
    assert.equal(question.replyTo, null)
  })

  test('the preview is empty once the answered message is deleted or removed', async () => {
    const { pair, member, trainer } = await joinedPair()
    const deleted = await send(member, pair.conversationId, 'deleted later')
    const removed = await send(member, pair.conversationId, 'removed later')
    const toDeleted = await send(trainer, pair.conversationId, 're: deleted', { replyToId: deleted.id })
    const toRemoved = await send(trainer, pair.conversationId, 're: removed', { replyToId: removed.id })
    await member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: deleted.id })
    assert.equal((await stack.api(`/admin/messages/${removed.id}`, { method: 'DELETE', email: ADMIN, body: { reason: 'x' } })).status, 200)

    const history = await participantHistory(member, pair.conversationId)

    assert.deepEqual(history.find((m) => m.id === toDeleted.id)?.replyTo, { id: deleted.id, senderId: pair.member.id, preview: '' })
    assert.deepEqual(history.find((m) => m.id === toRemoved.id)?.replyTo, { id: removed.id, senderId: pair.member.id, preview: '' })
    const admin = await adminHistory(pair.conversationId)
    assert.equal(admin.find((m) => m.id === toDeleted.id)?.replyTo.preview, 'deleted later', 'admins see the original')
  })

  test('a reply to a message of another conversation or to no message is refused and stores nothing', async () => {
    const { pair, member, trainer } = await joinedPair()
    const other = await joinedPair()
    const elsewhere = await send(other.member, other.pair.conversationId, 'elsewhere')
    const sendReply = (replyToId: string) => ({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `r-${replyToId}`, body: 'hi', replyToId })

    for (const replyToId of [elsewhere.id, crypto.randomUUID()]) {
      const reply = await refused(member, sendReply(replyToId), pair.conversationId, [trainer])
      assert.equal(reply.code, 'not_found')
      assert.equal(reply.details?.field, 'replyToId')
      assert.deepEqual(trainer.frames.filter((f) => f.type === 'newMessage'), [])
    }
  })
})

describe('react', () => {
  test('reactions are added and taken back; everyone joined gets reactionChanged with all of them', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(trainer, pair.conversationId, 'New plan is up')
    await member.nextOfType('newMessage')
    const react = (client: TestClient, emoji: string, on: boolean) =>
      client.request({ action: 'react', conversationId: pair.conversationId, messageId: message.id, emoji, on })

    const first = await react(member, '💪', true)
    assert.deepEqual({ ...first, requestId: undefined }, {
      type: 'reactionChanged', conversationId: pair.conversationId, messageId: message.id, reactions: [{ emoji: '💪', userIds: [pair.member.id] }], requestId: undefined,
    })
    assert.deepEqual((await trainer.nextOfType('reactionChanged')).reactions, first.reactions)
    await react(trainer, '💪', true)
    await member.nextOfType('reactionChanged')
    const third = await react(member, '❤️', true)
    assert.deepEqual(third.reactions, [
      { emoji: '💪', userIds: [pair.member.id, pair.trainer.id] },
      { emoji: '❤️', userIds: [pair.member.id] },
    ])
    await trainer.nextOfType('reactionChanged')
    const off = await react(member, '💪', false)
    assert.deepEqual(off.reactions, [
      { emoji: '💪', userIds: [pair.trainer.id] },
      { emoji: '❤️', userIds: [pair.member.id] },
    ])
    assert.deepEqual((await trainer.nextOfType('reactionChanged')).reactions, off.reactions)

    const [seen] = (await participantHistory(trainer, pair.conversationId)).filter((m) => m.id === message.id)
    assert.deepEqual(seen?.reactions, off.reactions, 'history carries them')
  })

  test('at most one of each per user: reacting twice changes nothing and tells only the caller', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(trainer, pair.conversationId, 'Nice work')
    const react = { action: 'react', conversationId: pair.conversationId, messageId: message.id, emoji: '👏', on: true }
    await member.request(react)
    await trainer.nextOfType('reactionChanged')
    const before = await rowsOf(pair.conversationId)

    const again = await member.request(react)

    assert.deepEqual(again.reactions, [{ emoji: '👏', userIds: [pair.member.id] }])
    await stack.ws.idle()
    assert.deepEqual(await rowsOf(pair.conversationId), before)
    assert.deepEqual(trainer.frames.filter((f) => f.type === 'reactionChanged'), [])
  })

  test('racing reactions on one message lose nothing', async () => {
    const { pair, member, trainer } = await joinedPair()
    const message = await send(trainer, pair.conversationId, 'Race day')
    const emoji = ['👍', '❤️', '😂', '😮', '😢', '🔥', '💪', '👏']

    await Promise.all(emoji.flatMap((e) => [member, trainer].map((client) =>
      client.request({ action: 'react', conversationId: pair.conversationId, messageId: message.id, emoji: e, on: true }))))

    const [seen] = (await participantHistory(member, pair.conversationId)).filter((m) => m.id === message.id)
    assert.equal(seen?.reactions.length, emoji.length)
    for (const reaction of seen?.reactions ?? []) assert.deepEqual([...reaction.userIds].sort(), [pair.member.id, pair.trainer.id].sort())
  })

  test('an emoji outside the set, a deleted message, another conversation, a non-participant and a closed conversation are refused', async () => {
    const { pair, member, trainer } = await joinedPair()
    const other = await joinedPair()
    const elsewhere = await send(other.member, other.pair.conversationId, 'elsewhere')
    const message = await send(trainer, pair.conversationId, 'react to me')
    const deleted = await send(trainer, pair.conversationId, 'deleted')
    await trainer.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: deleted.id })
    await stack.ws.idle()
    member.frames.length = 0
    const react = (conversationId: string, messageId: string, emoji = '👍') => ({ action: 'react', conversationId, messageId, emoji, on: true })

    const badEmoji = await refused(member, react(pair.conversationId, message.id, '🍕'), pair.conversationId, [trainer])
    assert.equal(badEmoji.code, 'bad_request')
    assert.deepEqual(badEmoji.details?.allowed, ['👍', '❤️', '😂', '😮', '😢', '🔥', '💪', '👏'])
    assert.equal((await refused(member, react(pair.conversationId, message.id, '❤'), pair.conversationId, [trainer])).code, 'bad_request', 'the heart without its variation selector is another emoji')
    assert.equal((await refused(member, react(pair.conversationId, deleted.id), pair.conversationId, [trainer])).code, 'conflict')
    assert.equal((await refused(member, react(pair.conversationId, crypto.randomUUID()), pair.conversationId, [trainer])).code, 'not_found')
    assert.equal((await refused(member, react(pair.conversationId, elsewhere.id), other.pair.conversationId, [trainer])).code, 'not_found')
    assert.equal((await refused(other.member, react(pair.conversationId, message.id), pair.conversationId, [member, trainer])).code, 'forbidden')
    await closeConversation(pair.conversationId)
    assert.equal((await refused(member, react(pair.conversationId, message.id), pair.conversationId)).code, 'conversation_closed')
  })

  test('REACTION_EMOJI sets the emoji allowed', async () => {
    const { pair, member } = await joinedPair()
    const message = await send(member, pair.conversationId, 'party')
    stack.reconfigure({ REACTION_EMOJI: '🎉,👍' })
    try {
      const party = await member.request({ action: 'react', conversationId: pair.conversationId, messageId: message.id, emoji: '🎉', on: true })
      assert.deepEqual(party.reactions, [{ emoji: '🎉', userIds: [pair.member.id] }])
      const refusedFire = await refused(member, { action: 'react', conversationId: pair.conversationId, messageId: message.id, emoji: '🔥', on: true }, pair.conversationId)
      assert.deepEqual(refusedFire.details?.allowed, ['🎉', '👍'])
    } finally {
      stack.reconfigure({})
    }
  })
})

test('each message action is one database statement', async () => {
  const { pair, member, trainer } = await joinedPair()
  const message = await send(member, pair.conversationId, 'count me')
  const count = async (run: () => Promise<unknown>) => {
    await stack.ws.idle()
    stack.statements.length = 0
    await run()
    await stack.ws.idle()
    return stack.statements.length
  }

  const replyCount = await count(() => send(trainer, pair.conversationId, 'counted', { replyToId: message.id }))
  const editCount = await count(() => member.request({ action: 'editMessage', conversationId: pair.conversationId, messageId: message.id, body: 'counted' }))
  const reactCount = await count(() => trainer.request({ action: 'react', conversationId: pair.conversationId, messageId: message.id, emoji: '👍', on: true }))
  const deleteCount = await count(() => member.request({ action: 'deleteMessage', conversationId: pair.conversationId, messageId: message.id }))

  assert.deepEqual({ replyCount, editCount, reactCount, deleteCount }, { replyCount: 1, editCount: 1, reactCount: 1, deleteCount: 1 })
})
