import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { ADMIN, auditRows, databaseSnapshot, userId } from '../helpers/admin.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * Reports and the moderation queue: a participant reports a message; admins list the reports and
 * resolve each with an action taken in the same transaction, with an audit row, the participants'
 * live connections hearing about it after the commit.
 */

let stack: TestStack
let conversation1: string
let conversation2: string
const ids = {} as Record<'member' | 'trainer' | 'member2', string>
/** Messages by key: trainer1's to user1 unless the key says otherwise. */
const messages: Record<string, string> = {}

const admin = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, email: ADMIN })
const report = (email: string, messageId: string, body: unknown = { reason: 'harassment' }) =>
  stack.api(`/messages/${messageId}/report`, { method: 'POST', email, body })

async function send(client: TestClient, conversationId: string, key: string, body: string) {
  const reply = await client.request({ action: 'sendMessage', conversationId, clientMessageId: key, body })
  messages[key] = reply.message.id as string
}

before(async () => {
  stack = await startTestStack()
  ids.member = await userId(stack, 'user1@example.com')
  ids.trainer = await userId(stack, 'trainer1@example.com')
  ids.member2 = await userId(stack, 'user2@example.com')
  conversation1 = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  conversation2 = (await stack.api('/conversations', { email: 'user2@example.com' })).body.conversations[0].id
  const member = await stack.connect('user1@example.com')
  const trainer = await stack.connect('trainer1@example.com')
  const member2 = await stack.connect('user2@example.com')
  for (const key of ['rude', 'spam', 'again', 'close', 'page-1', 'page-2']) await send(trainer, conversation1, key, `trainer says ${key}`)
  await send(member, conversation1, 'mine', 'the member says hi')
  await send(member2, conversation2, 'elsewhere', 'user2 says hi')
  for (const client of [member, trainer, member2]) client.close()
})
after(() => stack.close())

describe('POST /messages/{id}/report', () => {
  test("a participant reports the other participant's message: 201 with the open report", async () => {
    const { status, body } = await report('user1@example.com', messages.rude ?? '', { reason: 'harassment', note: '  rude to me  ' })

    assert.equal(status, 201)
    assert.deepEqual(
      { messageId: body.messageId, conversationId: body.conversationId, reason: body.reason, note: body.note, status: body.status },
      { messageId: messages.rude, conversationId: conversation1, reason: 'harassment', note: 'rude to me', status: 'open' },
    )
    assert.ok(!Number.isNaN(Date.parse(body.createdAt)))
    const stored = await stack.db.selectFrom('reports').selectAll().where('id', '=', body.id).executeTakeFirstOrThrow()
    assert.equal(stored.reporter_id, ids.member)
  })

  test('a trainer reports a member’s message too; the note is optional', async () => {
    const { status, body } = await report('trainer1@example.com', messages.mine ?? '', { reason: 'spam' })
    assert.equal(status, 201)
    assert.equal(body.note, null)
  })

  test('is one statement', async () => {
    await stack.ws.idle()
    stack.statements.length = 0
    const { status } = await report('user1@example.com', messages.spam ?? '', { reason: 'spam' })
    assert.equal(status, 201)
    assert.equal(stack.statements.length, 1)
  })

  describe('refusals, each changing nothing', () => {
    let snapshot: unknown
    before(async () => {
      // Each caller signs in once first: a first sign-in records the profile (a verified email
      // among it), which is the sign-in's doing, not the refused report's.
      for (const email of ['user1@example.com', 'user2@example.com', 'trainer2@example.com', ADMIN]) {
        assert.equal((await stack.api('/me', { email })).status, 200)
      }
      snapshot = await databaseSnapshot(stack)
    })

    test('the same user reporting the same message while their report is open gets 409 naming it', async () => {
      const { status, body } = await report('user1@example.com', messages.rude ?? '', { reason: 'other' })
      assert.equal(status, 409)
      assert.equal(body.error.code, 'conflict')
      const open = await stack.db.selectFrom('reports').select('id').where('message_id', '=', messages.rude ?? '').executeTakeFirstOrThrow()
      assert.equal(body.error.details.reportId, open.id)
    })

    test("one's own message is 400", async () => {
      const { status, body } = await report('user1@example.com', messages.mine ?? '')
      assert.equal(status, 400)
      assert.equal(body.error.code, 'bad_request')
    })

    test('another member (not a participant) gets 403', async () => {
      const { status, body } = await report('user2@example.com', messages.rude ?? '')
      assert.equal(status, 403)
      assert.equal(body.error.code, 'forbidden')
    })

    test('another trainer gets 403', async () => {
      const { status } = await report('trainer2@example.com', messages.rude ?? '')
      assert.equal(status, 403)
    })

    test('an admin gets 403: admins take part in no conversation', async () => {
      const { status } = await report(ADMIN, messages.rude ?? '')
      assert.equal(status, 403)
    })

    test('an unknown message is 404', async () => {
      const { status, body } = await report('user1@example.com', '00000000-0000-4000-8000-000000000000')
      assert.equal(status, 404)
      assert.equal(body.error.code, 'not_found')
    })

    test('an unknown reason, a missing reason and a note over 1000 characters are 400', async () => {
      for (const body of [{ reason: 'boring' }, {}, { reason: 'other', note: 'x'.repeat(1001) }]) {
        const { status } = await report('user1@example.com', messages.again ?? '', body)
        assert.equal(status, 400, JSON.stringify(body).slice(0, 80))
      }
    })

    test('no token is 401', async () => {
      const { status } = await stack.api(`/messages/${messages.again}/report`, { method: 'POST', body: { reason: 'spam' } })
      assert.equal(status, 401)
    })

    test('the refused reports changed nothing', async () => {
      assert.deepEqual(await databaseSnapshot(stack), snapshot)
    })
  })
})

describe('GET /admin/reports', () => {
  test('lists reports newest first with the message as moderators see it, its conversation and the reporter', async () => {
    const { status, body } = await admin('/admin/reports?status=open')

    assert.equal(status, 200)
    assert.deepEqual(
      body.reports.map((r: { messageId: string }) => r.messageId),
      [messages.spam, messages.mine, messages.rude],
    )
    const rude = body.reports[2]
    assert.equal(rude.reporter.email, 'user1@example.com')
    assert.equal(rude.message.body, 'trainer says rude')
    assert.equal(rude.message.senderId, ids.trainer)
    assert.equal(rude.conversation.id, conversation1)
    assert.equal(rude.conversation.member.email, 'user1@example.com')
    assert.equal(rude.conversation.trainer.email, 'trainer1@example.com')
    assert.deepEqual(
      { resolvedAt: rude.resolvedAt, resolvedBy: rude.resolvedBy, resolution: rude.resolution, resolutionNote: rude.resolutionNote },
      { resolvedAt: null, resolvedBy: null, resolution: null, resolutionNote: null },
    )
    assert.equal(body.nextCursor, null)
  })

  test('pages with an opaque cursor, each report exactly once', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: { reports: Array<{ id: string }>; nextCursor: string | null } } = await admin(
        `/admin/reports?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      )
      assert.equal(page.status, 200)
      seen.push(...page.body.reports.map((r) => r.id))
      cursor = page.body.nextCursor
    } while (cursor)
    const all = (await admin('/admin/reports')).body.reports.map((r: { id: string }) => r.id)
    assert.equal(seen.length, 3)
    assert.deepEqual(seen, all)
  })

  test('an unknown status and a forged cursor are 400', async () => {
    assert.equal((await admin('/admin/reports?status=pending')).status, 400)
    assert.equal((await admin('/admin/reports?cursor=bm9wZQ')).status, 400)
  })
})

describe('POST /admin/reports/{id}/resolve', () => {
  const openReport = async (messageKey: string) => {
    const row = await stack.db
      .selectFrom('reports')
      .select('id')
      .where('message_id', '=', messages[messageKey] ?? '')
      .where('status', '=', 'open')
      .executeTakeFirstOrThrow()
    return row.id
  }
  const resolve = (reportId: string, body: unknown) => admin(`/admin/reports/${reportId}/resolve`, { method: 'POST', body })

  test('dismiss resolves the report and changes nothing else; the audit row records it', async () => {
    const reportId = await openReport('mine')
    const before = await databaseSnapshot(stack)

    const { status, body } = await resolve(reportId, { action: 'dismiss', note: 'friendly banter' })

    assert.equal(status, 200)
    assert.deepEqual(
      { status: body.status, resolution: body.resolution, note: body.resolutionNote, by: body.resolvedBy.email },
      { status: 'resolved', resolution: 'dismiss', note: 'friendly banter', by: ADMIN },
    )
    assert.ok(!Number.isNaN(Date.parse(body.resolvedAt)))
    const after = (await databaseSnapshot(stack)) as { messages: unknown; conversations: unknown; users: unknown }
    const was = before as typeof after
    assert.deepEqual([after.messages, after.conversations, after.users], [was.messages, was.conversations, was.users])
    const audit = (await auditRows(stack)).at(-1)
    assert.deepEqual(
      { action: audit?.action, targetType: audit?.target_type, targetId: audit?.target_id, reason: audit?.reason },
      { action: 'report.resolved', targetType: 'report', targetId: reportId, reason: 'friendly banter' },
    )
    assert.deepEqual(audit?.details, {
      action: 'dismiss',
      changed: false,
      messageId: messages.mine,
      conversationId: conversation1,
      senderId: ids.member,
      reporterId: ids.trainer,
    })
  })

  test('hide_message hides the message with the note as reason, both audit rows in one transaction; participants hear messageRemoved', async () => {
    const reportId = await openReport('rude')
    const member = await stack.connect('user1@example.com')
    const trainer = await stack.connect('trainer1@example.com')
    const auditBefore = (await auditRows(stack)).length

    const { status, body } = await resolve(reportId, { action: 'hide_message', note: 'abusive' })

    assert.equal(status, 200)
    assert.equal(body.resolution, 'hide_message')
    assert.equal(body.message.removed, true)
    assert.equal(body.message.hiddenReason, 'abusive')
    for (const client of [member, trainer]) {
      const frame = await client.nextOfType('messageRemoved')
      assert.deepEqual(frame, { type: 'messageRemoved', conversationId: conversation1, messageId: messages.rude })
    }
    // Rows of one transaction share its time, so their order among themselves is the ids'.
    const added = (await auditRows(stack)).slice(auditBefore)
    assert.deepEqual(added.map((row) => row.action).sort(), ['message.hidden', 'report.resolved'])
    // One transaction: both rows carry its time.
    assert.equal(added[0]?.created_at.getTime(), added[1]?.created_at.getTime())
    const history = await stack.api(`/conversations/${conversation1}/messages`, { email: 'user1@example.com' })
    assert.equal(history.body.messages.find((m: { id: string }) => m.id === messages.rude).body, '')
    member.close()
    trainer.close()
  })

  test('a report of an already removed message resolves with hide_message without hiding again (changed: false)', async () => {
    // A second reporter's report, filed before the message was hidden.
    const other = await stack.db
      .insertInto('reports')
      .values({ message_id: messages.spam ?? '', reporter_id: ids.member, reason: 'other' })
      .returning('id')
      .executeTakeFirstOrThrow()
      .catch(() => undefined)
    assert.equal(other, undefined, 'the partial unique index refuses a second open report of the same user')
    const reportId = await openReport('spam')
    assert.equal((await resolve(reportId, { action: 'hide_message', note: 'spam' })).status, 200)
    const again = await report('user1@example.com', messages.spam ?? '', { reason: 'spam' })
    assert.equal(again.status, 409, 'a removed message cannot be reported again')
  })

  test('close_conversation closes the conversation with the note as reason; participants hear conversationClosed', async () => {
    const filed = await report('user1@example.com', messages.close ?? '', { reason: 'inappropriate' })
    assert.equal(filed.status, 201)
    const member = await stack.connect('user1@example.com')

    const { status, body } = await resolve(filed.body.id, { action: 'close_conversation', note: 'cooling off' })

    assert.equal(status, 200)
    assert.equal(body.conversation.status, 'closed')
    assert.equal(body.conversation.closedReason, 'cooling off')
    const frame = await member.nextOfType('conversationClosed')
    assert.deepEqual(frame, { type: 'conversationClosed', conversationId: conversation1, reason: 'cooling off' })
    member.close()
    // A closed conversation is still readable, so its messages can still be reported.
    const late = await report('user1@example.com', messages['page-1'] ?? '', { reason: 'spam' })
    assert.equal(late.status, 201)
  })

  test("disable_user disables the message's sender and closes their live connections", async () => {
    const reportId = await openReport('page-1')
    const trainer = await stack.connect('trainer1@example.com')

    const { status, body } = await resolve(reportId, { action: 'disable_user', note: 'repeated abuse' })

    assert.equal(status, 200)
    assert.equal(body.resolution, 'disable_user')
    await trainer.waitForClose()
    const sender = await stack.db.selectFrom('users').select('disabled_at').where('id', '=', ids.trainer).executeTakeFirstOrThrow()
    assert.ok(sender.disabled_at)
    const audit = (await auditRows(stack)).slice(-2).sort((a, b) => a.action.localeCompare(b.action))
    assert.deepEqual(audit.map((row) => [row.action, row.target_id, row.reason]), [
      ['report.resolved', reportId, 'repeated abuse'],
      ['user.disabled', ids.trainer, 'repeated abuse'],
    ])
    // Enabled again for the tests that follow.
    assert.equal((await admin(`/admin/users/${ids.trainer}/disabled`, { method: 'PUT', body: { disabled: false } })).status, 200)
  })

  test('the resolved list shows who resolved each report and how', async () => {
    const { body } = await admin('/admin/reports?status=resolved')
    assert.deepEqual(
      body.reports.map((r: { resolution: string; resolvedBy: { email: string } }) => [r.resolution, r.resolvedBy.email]),
      // Newest report first: page-1, close, spam, mine, rude.
      [['disable_user', ADMIN], ['close_conversation', ADMIN], ['hide_message', ADMIN], ['dismiss', ADMIN], ['hide_message', ADMIN]],
    )
    assert.deepEqual((await admin('/admin/reports?status=open')).body.reports, [])
  })

  describe('refusals, each changing nothing', () => {
    let snapshot: unknown
    let resolvedId: string
    before(async () => {
      resolvedId = (await admin('/admin/reports?status=resolved')).body.reports[0].id
      snapshot = await databaseSnapshot(stack)
    })

    test('a resolved report is 409', async () => {
      const { status, body } = await resolve(resolvedId, { action: 'dismiss', note: 'again' })
      assert.equal(status, 409)
      assert.equal(body.error.code, 'conflict')
    })

    test('an unknown report is 404', async () => {
      const { status } = await resolve('00000000-0000-4000-8000-000000000000', { action: 'dismiss', note: 'x' })
      assert.equal(status, 404)
    })

    test('an unknown action or a missing note is 400', async () => {
      for (const body of [{ action: 'ban', note: 'x' }, { action: 'dismiss' }, { action: 'dismiss', note: '  ' }]) {
        assert.equal((await resolve(resolvedId, body)).status, 400, JSON.stringify(body))
      }
    })

    test('members and trainers get 403', async () => {
      for (const email of ['user1@example.com', 'trainer1@example.com']) {
        const listed = await stack.api('/admin/reports', { email })
        assert.equal(listed.status, 403)
        const resolved = await stack.api(`/admin/reports/${resolvedId}/resolve`, { method: 'POST', email, body: { action: 'dismiss', note: 'x' } })
        assert.equal(resolved.status, 403)
      }
    })

    test('the refused requests changed nothing', async () => {
      await stack.ws.idle()
      assert.deepEqual(await databaseSnapshot(stack), snapshot)
    })
  })
})
