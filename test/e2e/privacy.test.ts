import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { GetEndpointAttributesCommand, SNSClient } from '@aws-sdk/client-sns'
import { sql } from 'kysely'
import { invoke } from '@trainer-chat/aws-edge'
import { ADMIN, databaseSnapshot, openConversationId, userId } from '../helpers/admin.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * Data protection end to end (docs/privacy.md): a user's export of everything stored about them,
 * and an admin's erasure of a user, with the people concerned connected, the files on the local
 * S3 and the push endpoints on the local SNS.
 */

let stack: TestStack
let trainerId: string
const PHOTO = randomBytes(1024)

before(async () => {
  stack = await startTestStack()
  await userId(stack, ADMIN)
  trainerId = await userId(stack, 'trainer1@example.com')
})
after(() => stack.close())

const admin = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, email: ADMIN })
const erase = (id: string, body: unknown = { reason: 'GDPR request #42' }, email = ADMIN) =>
  stack.api(`/admin/users/${id}/erase`, { method: 'POST', email, body })

/** A brand-new member assigned to trainer1, with their open conversation. */
async function newMember(): Promise<{ email: string; id: string; conversationId: string }> {
  const email = `member-${randomUUID().slice(0, 8)}@example.com`
  const id = await userId(stack, email)
  const assigned = await admin(`/admin/users/${id}/trainer`, { method: 'PUT', body: { trainerId } })
  assert.equal(assigned.status, 200, JSON.stringify(assigned.body))
  return { email, id, conversationId: await openConversationId(stack, id, trainerId) }
}

/** Uploads a photo to the conversation as `email` and sends it; returns the acknowledged message. */
async function sendPhoto(client: TestClient, email: string, conversationId: string) {
  const ticket = await stack.api(`/conversations/${conversationId}/attachments`, {
    method: 'POST',
    email,
    body: { fileName: 'progress.png', contentType: 'image/png', size: PHOTO.length },
  })
  assert.equal(ticket.status, 201, JSON.stringify(ticket.body))
  const put = await fetch(ticket.body.uploadUrl, { method: 'PUT', headers: ticket.body.headers, body: PHOTO })
  assert.equal(put.status, 200)
  const ack = await client.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.body.attachmentId })
  assert.equal(ack.type, 'newMessage', JSON.stringify(ack))
  assert.ok(ack.message.attachment)
  return ack.message as { id: string; seq: number; attachment: { downloadUrl: string } }
}

async function send(client: TestClient, conversationId: string, body: string) {
  const ack = await client.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), body })
  assert.equal(ack.type, 'newMessage', JSON.stringify(ack))
  return ack.message
}

async function closeAll(...clients: TestClient[]): Promise<void> {
  for (const client of clients) client.close()
  await Promise.all(clients.map((client) => client.waitForClose()))
}

/** Everything an erasure may touch, as one comparable value. */
async function everything(): Promise<unknown> {
  const { rows } = await sql<{ rest: unknown }>`
    SELECT json_build_object(
      'attachments', (SELECT json_agg(a ORDER BY a.id) FROM attachments a),
      'devices', (SELECT json_agg(d ORDER BY d.token) FROM devices d),
      'mutes', (SELECT json_agg(n ORDER BY n.user_id, n.conversation_id) FROM notification_mutes n),
      'pending', (SELECT json_agg(p ORDER BY p.id) FROM pending_deletions p)
    ) AS rest`.execute(stack.db)
  return { core: await databaseSnapshot(stack), rest: rows[0]?.rest }
}

describe('GET /me/export', () => {
  test('a member gets their profile, conversations with read state, devices without tokens, mutes and every message with download URLs', async () => {
    const member = await newMember()
    const memberSocket = await stack.connect(member.email)
    const trainer = await stack.connect('trainer1@example.com')
    const deviceToken = `ios-${randomUUID()}`
    assert.equal((await stack.api('/devices', { method: 'POST', email: member.email, body: { platform: 'ios', token: deviceToken } })).status, 200)
    await stack.api(`/conversations/${member.conversationId}/notifications`, { method: 'PUT', email: member.email, body: { muted: true } })
    const hello = await send(memberSocket, member.conversationId, 'Hi coach')
    const photo = await sendPhoto(memberSocket, member.email, member.conversationId)
    const reply = await send(trainer, member.conversationId, 'Welcome!')
    const read = await memberSocket.request({ action: 'markAsRead', conversationId: member.conversationId, messageId: reply.id })
    assert.equal(read.type, 'ok')

    const { status, body } = await stack.api('/me/export', { email: member.email })

    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.profile.id, member.id)
    assert.equal(body.profile.email, member.email)
    assert.equal(body.profile.trainerId, trainerId)
    assert.deepEqual(
      body.conversations.map((c: Record<string, unknown>) => [c.id, c.as, c.status, c.messageCount, c.lastReadSeq, c.unreadCount, c.muted]),
      [[member.conversationId, 'member', 'open', 3, reply.seq, 0, true]],
    )
    assert.deepEqual(body.devices.map((d: Record<string, unknown>) => Object.keys(d).sort()), [['createdAt', 'enabled', 'platform', 'updatedAt']])
    assert.ok(!JSON.stringify(body).includes(deviceToken), 'no device token anywhere in the export')
    assert.deepEqual(body.notificationSettings, { muted: false, mutedConversationIds: [member.conversationId] })
    assert.deepEqual(
      body.messages.map((m: Record<string, unknown>) => [m.id, m.sentByMe, m.body]),
      [[hello.id, true, 'Hi coach'], [photo.id, true, ''], [reply.id, false, 'Welcome!']],
    )
    assert.equal(body.messages[2].readAt !== null, true)
    const download = await fetch(body.messages[1].attachment.downloadUrl)
    assert.equal(download.status, 200)
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), PHOTO)
    assert.equal(body.nextCursor, null)
    assert.deepEqual(body.accountHistory.map((entry: { action: string }) => entry.action), ['user.trainer_assigned'])
    await closeAll(memberSocket, trainer)
  })

  test("the other participant's removed messages are withheld; the caller's own keep their text", async () => {
    const member = await newMember()
    const memberSocket = await stack.connect(member.email)
    const trainer = await stack.connect('trainer1@example.com')
    const mine = await send(memberSocket, member.conversationId, 'my words')
    const theirs = await send(trainer, member.conversationId, 'something rude')
    for (const message of [mine, theirs]) {
      assert.equal((await admin(`/admin/messages/${message.id}`, { method: 'DELETE', body: { reason: 'test' } })).status, 200)
    }

    const { body } = await stack.api('/me/export', { email: member.email })

    assert.deepEqual(
      body.messages.map((m: Record<string, unknown>) => [m.id, m.body, m.removed]),
      [[mine.id, 'my words', true], [theirs.id, '', true]],
    )
    await closeAll(memberSocket, trainer)
  })

  test('a conversation of 10^4 messages comes out whole, in order, page by page', async (t) => {
    const member = await newMember()
    const count = 10_000
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id)
      SELECT ${member.conversationId}::uuid, s, CASE WHEN s % 2 = 0 THEN ${member.id}::uuid ELSE ${trainerId}::uuid END,
        'message ' || s, 'seed-' || s
      FROM generate_series(1, ${count}) s`.execute(stack.db)
    await sql`UPDATE conversations SET last_seq = ${count} WHERE id = ${member.conversationId}`.execute(stack.db)

    const started = performance.now()
    const first = await stack.api('/me/export?limit=1000', { email: member.email })
    assert.equal(first.status, 200)
    const seqs: number[] = first.body.messages.map((m: { seq: number }) => m.seq)
    let cursor: string | null = first.body.nextCursor
    let pages = 1
    while (cursor) {
      const page = await stack.api(`/me/export/messages?limit=1000&cursor=${cursor}`, { email: member.email })
      assert.equal(page.status, 200, JSON.stringify(page.body))
      seqs.push(...page.body.messages.map((m: { seq: number }) => m.seq))
      cursor = page.body.nextCursor
      pages++
    }

    // A figure for the report, not an assertion: the machine's speed is not under test.
    t.diagnostic(`exported ${count} messages in ${pages} pages in ${Math.round(performance.now() - started)} ms`)
    assert.equal(pages, 10)
    assert.deepEqual(seqs, Array.from({ length: count }, (_, i) => i + 1))
    assert.equal(first.body.conversations[0].messageCount, count)
  })

  test('refuses a bad cursor, a limit over 1000, no token and a disabled account', async () => {
    const member = await newMember()
    assert.equal((await stack.api('/me/export/messages?cursor=nope', { email: member.email })).status, 400)
    assert.equal((await stack.api('/me/export?limit=1001', { email: member.email })).status, 400)
    assert.equal((await stack.api('/me/export')).status, 401)
    assert.equal((await admin(`/admin/users/${member.id}/disabled`, { method: 'PUT', body: { disabled: true } })).status, 200)
    const refused = await stack.api('/me/export', { email: member.email })
    const refusedPage = await stack.api('/me/export/messages', { email: member.email })
    assert.equal(refused.status, 403)
    assert.equal(refusedPage.status, 403)
  })
})

describe('POST /admin/users/{id}/erase', () => {
  test("anonymises the member, deletes their messages' bodies, files, devices and endpoints, closes their sockets; the trainer's messages stay", async () => {
    const member = await newMember()
    const memberSocket = await stack.connect(member.email)
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId: member.conversationId })
    const deviceToken = `android-${randomUUID()}`
    assert.equal((await stack.api('/devices', { method: 'POST', email: member.email, body: { platform: 'android', token: deviceToken } })).status, 200)
    const endpointArn = (await stack.db.selectFrom('devices').select('endpoint_arn').where('token', '=', deviceToken).executeTakeFirstOrThrow()).endpoint_arn
    const text = await send(memberSocket, member.conversationId, 'My knee hurts since Tuesday')
    const photo = await sendPhoto(memberSocket, member.email, member.conversationId)
    const reply = await send(trainer, member.conversationId, 'Rest it for a week')
    await trainer.nextOfType('newMessage')
    await trainer.nextOfType('newMessage')

    const { status, body } = await erase(member.id)

    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.userId, member.id)
    assert.equal(body.messagesErased, 2)
    assert.equal(body.attachmentsErased, 1)
    assert.equal(body.devicesRemoved, 1)
    assert.deepEqual(body.closedConversationIds, [member.conversationId])
    assert.equal(body.closedConnections, 1)
    assert.deepEqual(body.deletions, { done: 2, pending: 0 })
    await memberSocket.waitForClose()
    const closed = await trainer.nextOfType('conversationClosed')
    assert.deepEqual(closed, { type: 'conversationClosed', conversationId: member.conversationId, reason: 'user_erased' })

    const user = await stack.db.selectFrom('users').selectAll().where('id', '=', member.id).executeTakeFirstOrThrow()
    assert.equal(user.email, '')
    assert.equal(user.display_name, 'Deleted user')
    assert.ok(user.erased_at && user.disabled_at)
    const messages = await stack.db.selectFrom('messages').selectAll().where('conversation_id', '=', member.conversationId).orderBy('seq').execute()
    assert.deepEqual(
      messages.map((m) => [m.id, m.body, m.attachment_id, m.deleted_at !== null]),
      [[text.id, '', null, true], [photo.id, '', null, true], [reply.id, 'Rest it for a week', null, false]],
    )
    assert.equal((await stack.db.selectFrom('attachments').select('id').where('uploader_id', '=', member.id).execute()).length, 0)
    assert.equal((await fetch(photo.attachment.downloadUrl)).status, 404, 'the object is gone from S3')
    assert.equal((await stack.db.selectFrom('devices').select('token').where('user_id', '=', member.id).execute()).length, 0)
    const sns = new SNSClient({ endpoint: stack.awsUrl, region: 'us-east-1' })
    await assert.rejects(sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn })), { name: 'NotFoundException' })
    sns.destroy()
    const audit = await stack.db.selectFrom('audit_log').selectAll().where('target_id', '=', member.id).where('action', '=', 'user.erased').execute()
    assert.equal(audit.length, 1)
    assert.equal(audit[0]?.reason, 'GDPR request #42')
    assert.ok(!JSON.stringify(audit[0]?.details).includes(member.email), 'the audit row keeps no personal data')

    // The trainer still reads the conversation, with a placeholder for the erased member.
    const history = await stack.api(`/conversations/${member.conversationId}/messages`, { email: 'trainer1@example.com' })
    assert.equal(history.status, 200)
    assert.deepEqual(history.body.messages.map((m: { body: string }) => m.body), ['', '', 'Rest it for a week'])
    const adminView = await admin(`/admin/conversations?userId=${member.id}`)
    assert.deepEqual(adminView.body.conversations[0].member, { id: member.id, email: '', displayName: 'Deleted user' })
    assert.equal(adminView.body.conversations[0].closedReason, 'user_erased')
    await closeAll(trainer)
  })

  test('edits, reactions and reports: exported first, then erased (earlier versions, reactions, report notes)', async () => {
    const member = await newMember()
    const memberSocket = await stack.connect(member.email)
    const trainer = await stack.connect('trainer1@example.com')
    const typo = await send(memberSocket, member.conversationId, 'Squats 5x5 at 60 kg, knee sore')
    const edited = await memberSocket.request({ action: 'editMessage', conversationId: member.conversationId, messageId: typo.id, body: 'Squats 5x5 at 70 kg' })
    assert.equal(edited.type, 'messageUpdated', JSON.stringify(edited))
    const answer = await send(trainer, member.conversationId, 'Great progress')
    await trainer.request({ action: 'react', conversationId: member.conversationId, messageId: answer.id, emoji: '🔥', on: true })
    const reacted = await memberSocket.request({ action: 'react', conversationId: member.conversationId, messageId: answer.id, emoji: '🔥', on: true })
    assert.equal(reacted.type, 'reactionChanged', JSON.stringify(reacted))
    const report = await stack.api(`/messages/${answer.id}/report`, { method: 'POST', email: member.email, body: { reason: 'other', note: 'my knee history is private' } })
    assert.equal(report.status, 201, JSON.stringify(report.body))

    const exported = await stack.api('/me/export', { email: member.email })
    assert.equal(exported.status, 200, JSON.stringify(exported.body))
    assert.deepEqual(exported.body.reactions, [{ conversationId: member.conversationId, messageId: answer.id, emoji: '🔥' }])
    assert.deepEqual(exported.body.messageEdits.map((e: { messageId: string; body: string }) => [e.messageId, e.body]), [[typo.id, 'Squats 5x5 at 60 kg, knee sore']])
    assert.deepEqual(exported.body.reportsFiled.map((r: { id: string; note: string; status: string }) => [r.id, r.note, r.status]), [[report.body.id, 'my knee history is private', 'open']])
    const trainerExport = await stack.api('/me/export', { email: 'trainer1@example.com' })
    assert.ok(!JSON.stringify(trainerExport.body.messageEdits).includes('knee sore'), "the trainer's export holds only the trainer's own edits")

    assert.equal((await erase(member.id)).status, 200)

    const edits = await stack.db.selectFrom('message_edits').selectAll().where('message_id', '=', typo.id).execute()
    assert.deepEqual(edits, [], 'no earlier version of their message is left')
    const reactions = await stack.db.selectFrom('messages').select('reactions').where('id', '=', answer.id).executeTakeFirstOrThrow()
    const trainerId_ = await userId(stack, 'trainer1@example.com')
    assert.deepEqual(reactions.reactions, [{ emoji: '🔥', userIds: [trainerId_] }], "their reaction is gone, the trainer's stays")
    const filed = await stack.db.selectFrom('reports').select(['note', 'reporter_id']).where('id', '=', report.body.id).executeTakeFirstOrThrow()
    assert.deepEqual(filed, { note: null, reporter_id: member.id })
    await closeAll(memberSocket, trainer)
  })

  test('the erased account cannot sign in again, and a new sign-up with the same email starts from nothing', async () => {
    const member = await newMember()
    assert.equal((await erase(member.id)).status, 200)
    const before = await stack.db.selectFrom('users').selectAll().where('id', '=', member.id).executeTakeFirstOrThrow()

    await assert.rejects(stack.connect(member.email), { status: 403 })
    const me = await stack.api('/me', { email: member.email })
    // Looked up first: the lookup signs trainer2 in, which may update their own row.
    const trainer2 = await userId(stack, 'trainer2@example.com')
    const snapshot = await everything()
    const enabled = await admin(`/admin/users/${member.id}/disabled`, { method: 'PUT', body: { disabled: false } })
    const reopened = await admin(`/admin/conversations/${member.conversationId}/reopen`, { method: 'POST' })
    const promoted = await admin(`/admin/users/${member.id}/role`, { method: 'PUT', body: { role: 'trainer' } })
    const assigned = await admin(`/admin/users/${member.id}/trainer`, { method: 'PUT', body: { trainerId: trainer2 } })

    assert.equal(me.status, 403)
    assert.deepEqual([enabled.status, reopened.status, promoted.status, assigned.status], [409, 409, 409, 409])
    assert.deepEqual(await everything(), snapshot, 'no admin change brings an erased account back')
    const afterwards = await stack.db.selectFrom('users').selectAll().where('id', '=', member.id).executeTakeFirstOrThrow()
    assert.deepEqual([afterwards.email, afterwards.display_name, afterwards.disabled_at], [before.email, before.display_name, before.disabled_at])

    const token = await stack.issuer.mint({ sub: `new-${randomUUID()}`, email: member.email, name: 'Same Person', groups: [] })
    const fresh = await stack.api('/me', { token })
    const conversations = await stack.api('/conversations', { token })
    assert.equal(fresh.status, 200)
    assert.notEqual(fresh.body.id, member.id)
    assert.equal(fresh.body.trainerId, null)
    assert.deepEqual(conversations.body.conversations, [])
  })

  test('a failed S3 deletion is recorded and retried by the sweep until the object is gone', async () => {
    const member = await newMember()
    const memberSocket = await stack.connect(member.email)
    const photo = await sendPhoto(memberSocket, member.email, member.conversationId)
    const edge = stack.aws
    assert.ok(edge, 'the in-process AWS edge')

    edge.s3.failNext(100)
    let erased
    try {
      erased = await erase(member.id)
    } finally {
      edge.s3.failNext(0)
    }

    assert.equal(erased.status, 200, JSON.stringify(erased.body))
    assert.deepEqual(erased.body.deletions, { done: 0, pending: 1 })
    assert.equal((await fetch(photo.attachment.downloadUrl)).status, 200, 'the object is still there')
    const pending = await stack.db.selectFrom('pending_deletions').selectAll().where('user_id', '=', member.id).executeTakeFirstOrThrow()
    assert.equal(pending.kind, 's3_object')
    assert.equal(pending.attempts, 1)
    assert.equal(pending.done_at, null)
    assert.ok(pending.last_error)

    const swept: { erasureDeletions: { done: number; pending: number } } = await invoke(stack.handlers()['attachments-sweep'], {}, 'attachments-sweep')

    assert.ok(swept.erasureDeletions.done >= 1)
    assert.equal(swept.erasureDeletions.pending, 0)
    assert.equal((await fetch(photo.attachment.downloadUrl)).status, 404, 'the object is gone')
    const done = await stack.db.selectFrom('pending_deletions').selectAll().where('id', '=', pending.id).executeTakeFirstOrThrow()
    assert.equal(done.attempts, 2)
    assert.ok(done.done_at)
    await closeAll(memberSocket)
  })

  test('what a write racing the erasure left behind is erased by the sweep', async () => {
    const member = await newMember()
    const memberSocket = await stack.connect(member.email)
    const text = await send(memberSocket, member.conversationId, 'typed during the erasure')
    await closeAll(memberSocket)
    assert.equal((await erase(member.id)).status, 200)
    // As if a device registration and a send had committed while the erasing transaction ran.
    const bystander = await newMember()
    const deviceToken = `ios-${randomUUID()}`
    assert.equal((await stack.api('/devices', { method: 'POST', email: bystander.email, body: { platform: 'ios', token: deviceToken } })).status, 200)
    const { endpoint_arn: endpointArn } = await stack.db
      .updateTable('devices').set({ user_id: member.id }).where('token', '=', deviceToken).returning('endpoint_arn').executeTakeFirstOrThrow()
    await stack.db.updateTable('messages').set({ body: 'typed during the erasure', deleted_at: null }).where('id', '=', text.id).execute()

    const swept: { erasureDeletions: { done: number } } = await invoke(stack.handlers()['attachments-sweep'], {}, 'attachments-sweep')

    assert.ok(swept.erasureDeletions.done >= 1)
    const message = await stack.db.selectFrom('messages').select(['body', 'deleted_at']).where('id', '=', text.id).executeTakeFirstOrThrow()
    assert.equal(message.body, '')
    assert.ok(message.deleted_at)
    assert.equal((await stack.db.selectFrom('devices').select('token').where('user_id', '=', member.id).execute()).length, 0)
    const sns = new SNSClient({ endpoint: stack.awsUrl, region: 'us-east-1' })
    await assert.rejects(sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn })), { name: 'NotFoundException' })
    sns.destroy()
    const user = await stack.db.selectFrom('users').select(['email', 'display_name']).where('id', '=', member.id).executeTakeFirstOrThrow()
    assert.deepEqual(user, { email: '', display_name: 'Deleted user' })
  })

  describe('refusals change nothing', () => {
    test('not an admin: 403', async () => {
      const member = await newMember()
      const before = await everything()
      const refused = await erase(member.id, undefined, 'trainer1@example.com')
      assert.equal(refused.status, 403)
      assert.equal(refused.body.error.code, 'forbidden')
      assert.deepEqual(await everything(), before)
    })

    test('unknown user: 404', async () => {
      const before = await everything()
      const refused = await erase(randomUUID())
      assert.equal(refused.status, 404)
      assert.deepEqual(await everything(), before)
    })

    test('no reason: 400', async () => {
      const member = await newMember()
      const before = await everything()
      const refused = await erase(member.id, {})
      assert.equal(refused.status, 400)
      assert.deepEqual(await everything(), before)
    })

    test('already erased: 409', async () => {
      const member = await newMember()
      assert.equal((await erase(member.id)).status, 200)
      const before = await everything()
      const refused = await erase(member.id)
      assert.equal(refused.status, 409)
      assert.deepEqual(await everything(), before)
    })

    test('an admin, the caller included: 409 (change their role first)', async () => {
      const adminId = await userId(stack, ADMIN)
      const before = await everything()
      const refused = await erase(adminId)
      assert.equal(refused.status, 409)
      assert.match(refused.body.error.message, /change their role first/)
      assert.deepEqual(await everything(), before)
    })

    test('a trainer who still has members: 409 (reassign them first)', async () => {
      const before = await everything()
      const refused = await erase(trainerId)
      assert.equal(refused.status, 409)
      assert.equal(refused.body.error.details.assignedMembers > 0, true)
      assert.deepEqual(await everything(), before)
    })
  })
})
