import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { ADMIN, auditRows, databaseSnapshot, openConversationId, userId } from '../helpers/admin.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/** Managing who coaches whom, roles, and the audit trail, with the affected people connected. */

let stack: TestStack
const id = {} as Record<'admin' | 'member' | 'otherMember' | 'trainer' | 'otherTrainer', string>
/** user1 with trainer1, and user2 with trainer2, as seeded. */
let memberConversation: string
let otherMemberConversation: string

const admin = (path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, email: ADMIN })
const assign = (user: string, body: unknown) => admin(`/admin/users/${user}/trainer`, { method: 'PUT', body })
const changeRole = (user: string, body: unknown) => admin(`/admin/users/${user}/role`, { method: 'PUT', body })
const setDisabled = (user: string, body: unknown) => admin(`/admin/users/${user}/disabled`, { method: 'PUT', body })

before(async () => {
  stack = await startTestStack()
  id.admin = await userId(stack, ADMIN)
  id.member = await userId(stack, 'user1@example.com')
  id.otherMember = await userId(stack, 'user2@example.com')
  id.trainer = await userId(stack, 'trainer1@example.com')
  id.otherTrainer = await userId(stack, 'trainer2@example.com')
  memberConversation = await openConversationId(stack, id.member, id.trainer)
  otherMemberConversation = await openConversationId(stack, id.otherMember, id.otherTrainer)
})
after(() => stack.close())

/** Closes clients and waits until the server has seen them go. */
async function closeAll(...clients: TestClient[]): Promise<void> {
  for (const client of clients) client.close()
  await Promise.all(clients.map((client) => client.waitForClose()))
}

describe('GET /admin/users', () => {
  test('lists users with their role and assigned trainer, ordered by email', async () => {
    const { status, body } = await admin('/admin/users')

    assert.equal(status, 200)
    assert.deepEqual(
      body.users.map((u: { email: string; role: string; trainer: { email: string } | null }) => [u.email, u.role, u.trainer?.email ?? null]),
      [
        [ADMIN, 'admin', null],
        ['trainer1@example.com', 'trainer', null],
        ['trainer2@example.com', 'trainer', null],
        ['user1@example.com', 'user', 'trainer1@example.com'],
        ['user2@example.com', 'user', 'trainer2@example.com'],
      ],
    )
    assert.equal(body.nextCursor, null)
  })

  test('filters by role', async () => {
    const { body } = await admin('/admin/users?role=trainer')
    assert.deepEqual(body.users.map((u: { id: string }) => u.id), [id.trainer, id.otherTrainer])
  })

  test('pages with an opaque cursor, each user exactly once', async () => {
    const everyone = (await admin('/admin/users')).body.users.map((u: { id: string }) => u.id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor ? `&cursor=${cursor}` : ''
      const { body } = await admin(`/admin/users?limit=2${query}`)
      seen.push(...body.users.map((u: { id: string }) => u.id))
      cursor = body.nextCursor
    } while (cursor && seen.length <= everyone.length)
    assert.deepEqual(seen, everyone)
  })

  for (const query of ['role=coach', 'limit=0', 'limit=1000', 'cursor=not-a-cursor']) {
    test(`400 for ?${query}`, async () => {
      const { status, body } = await admin(`/admin/users?${query}`)
      assert.equal(status, 400)
      assert.equal(body.error.code, 'bad_request')
    })
  }
})

describe('PUT /admin/users/{id}/trainer', () => {
  let newConversation: string

  test('reassigning closes the conversation with the old trainer and opens one with the new, while both trainers watch', async () => {
    const memberClient = await stack.connect('user1@example.com')
    await memberClient.request({ action: 'joinConversation', conversationId: memberConversation })
    const oldTrainer = await stack.connect('trainer1@example.com')
    await oldTrainer.request({ action: 'joinConversation', conversationId: memberConversation })
    const newTrainer = await stack.connect('trainer2@example.com')

    const { status, body } = await assign(id.member, { trainerId: id.otherTrainer, reason: 'Schedule change' })

    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.user.trainer.id, id.otherTrainer)
    assert.deepEqual(body.closedConversationIds, [memberConversation])
    newConversation = body.conversation.id
    assert.notEqual(newConversation, memberConversation)
    assert.deepEqual(
      { status: body.conversation.status, member: body.conversation.member.id, trainer: body.conversation.trainer.id },
      { status: 'open', member: id.member, trainer: id.otherTrainer },
    )
    const closed = { type: 'conversationClosed', conversationId: memberConversation, reason: 'trainer_reassigned' }
    assert.deepEqual(await memberClient.nextOfType('conversationClosed'), closed)
    assert.deepEqual(await oldTrainer.nextOfType('conversationClosed'), closed)

    const stale = await oldTrainer.request({ action: 'sendMessage', conversationId: memberConversation, clientMessageId: 'old-1', body: 'still here?' })
    assert.equal(stale.type, 'error', 'the old trainer can no longer write to the member')
    const listed = await stack.api('/conversations', { email: 'user1@example.com' })
    assert.deepEqual(listed.body.conversations.map((c: { id: string }) => c.id), [newConversation])

    const ack = await memberClient.request({ action: 'sendMessage', conversationId: newConversation, clientMessageId: 'new-1', body: 'Hi new coach' })
    assert.equal(ack.type, 'newMessage')
    assert.equal((await newTrainer.nextOfType('newMessageNotification')).messageId, ack.message.id)
    const history = await newTrainer.request({ action: 'joinConversation', conversationId: newConversation })
    assert.deepEqual(history.messages.map((m: { body: string }) => m.body), ['Hi new coach'])
    assert.deepEqual(await newTrainer.quiet(100, (f) => f.type === 'conversationClosed'), [], 'the new trainer lost nothing')

    const entry = (await auditRows(stack)).at(-1)
    assert.equal(entry?.action, 'user.trainer_assigned')
    assert.equal(entry?.reason, 'Schedule change')
    assert.deepEqual(entry?.details, {
      previousTrainerId: id.trainer,
      trainerId: id.otherTrainer,
      conversationId: newConversation,
      conversation: 'created',
      closedConversationIds: [memberConversation],
    })
    await closeAll(memberClient, oldTrainer, newTrainer)
  })

  test('the old conversation cannot be reopened while the member has another trainer', async () => {
    const { status, body } = await admin(`/admin/conversations/${memberConversation}/reopen`, { method: 'POST' })
    assert.equal(status, 409)
    assert.equal(body.error.details.assignedTrainerId, id.otherTrainer)
  })

  test('assigning the previous trainer again reopens their old conversation', async () => {
    const { status, body } = await assign(id.member, { trainerId: id.trainer })

    assert.equal(status, 200)
    assert.equal(body.conversation.id, memberConversation)
    assert.equal(body.conversation.status, 'open')
    assert.deepEqual(body.closedConversationIds, [newConversation])
    assert.equal((await auditRows(stack)).at(-1)?.details.conversation, 'reopened')
  })

  test('assigning the current trainer again changes nothing', async () => {
    const before = await databaseSnapshot(stack)
    const { status, body } = await assign(id.member, { trainerId: id.trainer })
    assert.equal(status, 200)
    assert.equal(body.conversation.id, memberConversation)
    assert.deepEqual(body.closedConversationIds, [])
    assert.deepEqual(await databaseSnapshot(stack), before)
  })

  const refusals: Array<[string, () => [string, unknown], number]> = [
    ['a user who is not a member', () => [id.trainer, { trainerId: id.otherTrainer }], 400],
    ['a trainer who is a member', () => [id.member, { trainerId: id.otherMember }], 400],
    ['a trainer who is an admin', () => [id.member, { trainerId: id.admin }], 400],
    ['a trainer who does not exist', () => [id.member, { trainerId: randomUUID() }], 400],
    ['a trainerId that is not an id', () => [id.member, { trainerId: 'trainer2' }], 400],
    ['no trainerId', () => [id.member, {}], 400],
    ['a user who does not exist', () => [randomUUID(), { trainerId: id.otherTrainer }], 404],
    ['a user id that is not an id', () => ['me', { trainerId: id.otherTrainer }], 400],
  ]
  for (const [what, request, expected] of refusals) {
    test(`assigning for ${what} is ${expected} and changes nothing`, async () => {
      const before = await databaseSnapshot(stack)
      const [user, body] = request()
      const reply = await assign(user, body)
      assert.equal(reply.status, expected, JSON.stringify(reply.body))
      assert.equal(reply.body.error.code, expected === 404 ? 'not_found' : 'bad_request')
      assert.deepEqual(await databaseSnapshot(stack), before)
    })
  }

  test('assigning a disabled trainer is 400', async () => {
    const benched = await userId(stack, 'benched@example.com')
    assert.equal((await changeRole(benched, { role: 'trainer' })).status, 200)
    await stack.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', benched).execute()
    const before = await databaseSnapshot(stack)
    const { status, body } = await assign(id.member, { trainerId: benched })
    assert.equal(status, 400)
    assert.equal(body.error.details.field, 'trainerId')
    assert.deepEqual(await databaseSnapshot(stack), before)
  })
})

describe('PUT /admin/users/{id}/role', () => {
  test('a trainer who still has members cannot be demoted, and keeps their connection', async () => {
    const trainerClient = await stack.connect('trainer2@example.com')
    const before = await databaseSnapshot(stack)

    const { status, body } = await changeRole(id.otherTrainer, { role: 'user' })

    assert.equal(status, 409)
    assert.equal(body.error.details.assignedMembers, 1)
    assert.deepEqual(await databaseSnapshot(stack), before)
    const stillThere = await trainerClient.request({ action: 'joinConversation', conversationId: otherMemberConversation })
    assert.equal(stillThere.type, 'conversationHistory')
    await closeAll(trainerClient)
  })

  test('promoting a member closes their conversation and their connections, and the new role applies at once', async () => {
    const phone = await stack.connect('user2@example.com')
    await phone.request({ action: 'joinConversation', conversationId: otherMemberConversation })
    const laptop = await stack.connect('user2@example.com')
    const trainerClient = await stack.connect('trainer2@example.com')
    await trainerClient.request({ action: 'joinConversation', conversationId: otherMemberConversation })

    const { status, body } = await changeRole(id.otherMember, { role: 'trainer', reason: 'Hired as a coach' })

    assert.equal(status, 200, JSON.stringify(body))
    assert.deepEqual({ role: body.role, trainer: body.trainer }, { role: 'trainer', trainer: null })
    assert.deepEqual(await trainerClient.nextOfType('conversationClosed'), {
      type: 'conversationClosed',
      conversationId: otherMemberConversation,
      reason: 'role_changed',
    })
    await phone.waitForClose()
    await laptop.waitForClose()
    const rows = await stack.db.selectFrom('connections').where('user_id', '=', id.otherMember).select('connection_id').execute()
    assert.deepEqual(rows, [])
    const conversation = await stack.db.selectFrom('conversations').where('id', '=', otherMemberConversation).selectAll().executeTakeFirstOrThrow()
    assert.deepEqual([conversation.status, conversation.closed_reason], ['closed', 'role_changed'])
    const me = await stack.api('/me', { email: 'user2@example.com' })
    assert.deepEqual({ role: me.body.role, trainerId: me.body.trainerId }, { role: 'trainer', trainerId: null })

    const entry = (await auditRows(stack)).at(-1)
    assert.equal(entry?.action, 'user.role_changed')
    assert.equal(entry?.reason, 'Hired as a coach')
    assert.deepEqual(
      { from: entry?.details.from, to: entry?.details.to, previousTrainerId: entry?.details.previousTrainerId },
      { from: 'user', to: 'trainer', previousTrainerId: id.otherTrainer },
    )
    await closeAll(trainerClient)
  })

  test('a trainer with no members left can be demoted, and is disconnected', async () => {
    const trainerClient = await stack.connect('trainer2@example.com')
    const { status, body } = await changeRole(id.otherTrainer, { role: 'user' })
    assert.equal(status, 200)
    assert.equal(body.role, 'user')
    await trainerClient.waitForClose()
  })

  test('an admin cannot change their own role', async () => {
    const before = await databaseSnapshot(stack)
    const { status, body } = await changeRole(id.admin, { role: 'user' })
    assert.equal(status, 409)
    assert.equal(body.error.code, 'conflict')
    assert.deepEqual(await databaseSnapshot(stack), before)
  })

  test('the same role again changes nothing and keeps the connection', async () => {
    const trainerClient = await stack.connect('trainer1@example.com')
    const before = await databaseSnapshot(stack)
    const { status, body } = await changeRole(id.trainer, { role: 'trainer' })
    assert.equal(status, 200)
    assert.equal(body.role, 'trainer')
    assert.deepEqual(await databaseSnapshot(stack), before)
    const stillThere = await trainerClient.request({ action: 'joinConversation', conversationId: memberConversation })
    assert.equal(stillThere.type, 'conversationHistory')
    await closeAll(trainerClient)
  })

  for (const [what, user, body, expected] of [
    ['an unknown role', 'member', { role: 'superuser' }, 400],
    ['no role', 'member', {}, 400],
    ['a user who does not exist', 'nobody', { role: 'trainer' }, 404],
  ] as const) {
    test(`${what} is ${expected} and changes nothing`, async () => {
      const before = await databaseSnapshot(stack)
      const reply = await changeRole(user === 'member' ? id.member : randomUUID(), body)
      assert.equal(reply.status, expected)
      assert.deepEqual(await databaseSnapshot(stack), before)
    })
  }
})

describe('PUT /admin/users/{id}/disabled', () => {
  const email = 'disable-me@example.com'
  let target: string
  before(async () => {
    target = await userId(stack, email)
  })
  const connections = () => stack.db.selectFrom('connections').where('user_id', '=', target).select('connection_id').execute()

  test('disabling a member closes both their live connections at once and refuses them everywhere', async () => {
    const phone = await stack.connect(email)
    const laptop = await stack.connect(email)
    assert.equal((await connections()).length, 2)

    const { status, body } = await setDisabled(target, { disabled: true, reason: 'Abusive messages' })

    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.id, target)
    assert.ok(body.disabledAt && !Number.isNaN(Date.parse(body.disabledAt)), JSON.stringify(body))
    await phone.waitForClose()
    await laptop.waitForClose()
    assert.deepEqual(await connections(), [])
    await assert.rejects(stack.connect(email), { status: 403 })
    const me = await stack.api('/me', { email })
    assert.equal(me.status, 403)

    const entry = (await auditRows(stack)).at(-1)
    assert.deepEqual(
      { action: entry?.action, targetType: entry?.target_type, targetId: entry?.target_id, actorId: entry?.actor_id, reason: entry?.reason },
      { action: 'user.disabled', targetType: 'user', targetId: target, actorId: id.admin, reason: 'Abusive messages' },
    )
    assert.equal(entry?.details.closedConnections, 2)
    const listed = (await admin('/admin/users?limit=100')).body.users.find((u: { id: string }) => u.id === target)
    assert.equal(listed.disabledAt, body.disabledAt)
  })

  test('disabling an already disabled user changes nothing and writes no audit row', async () => {
    const before = await databaseSnapshot(stack)
    const { status, body } = await setDisabled(target, { disabled: true, reason: 'Again' })
    assert.equal(status, 200)
    assert.notEqual(body.disabledAt, null)
    assert.deepEqual(await databaseSnapshot(stack), before)
  })

  test('re-enabling lets them connect again', async () => {
    const { status, body } = await setDisabled(target, { disabled: false, reason: 'Appeal granted' })
    assert.equal(status, 200, JSON.stringify(body))
    assert.equal(body.disabledAt, null)
    const entry = (await auditRows(stack)).at(-1)
    assert.deepEqual([entry?.action, entry?.reason], ['user.enabled', 'Appeal granted'])

    const client = await stack.connect(email)
    assert.equal((await stack.api('/me', { email })).status, 200)
    assert.equal((await connections()).length, 1)
    await closeAll(client)
  })

  test('enabling an enabled user changes nothing, keeps the connection and writes no audit row', async () => {
    const client = await stack.connect(email)
    const before = await databaseSnapshot(stack)
    const { status, body } = await setDisabled(target, { disabled: false })
    assert.equal(status, 200)
    assert.equal(body.disabledAt, null)
    assert.deepEqual(await databaseSnapshot(stack), before)
    assert.equal(client.closeCode, undefined)
    assert.equal((await connections()).length, 1)
    await closeAll(client)
  })

  test('an admin cannot disable themselves', async () => {
    const before = await databaseSnapshot(stack)
    const { status, body } = await setDisabled(id.admin, { disabled: true })
    assert.equal(status, 409)
    assert.equal(body.error.code, 'conflict')
    assert.deepEqual(await databaseSnapshot(stack), before)
  })

  for (const [what, user, body, expected] of [
    ['no disabled flag', 'target', {}, 400],
    ['a disabled flag that is not a boolean', 'target', { disabled: 'yes' }, 400],
    ['an empty reason', 'target', { disabled: true, reason: '  ' }, 400],
    ['a user who does not exist', 'nobody', { disabled: true }, 404],
  ] as const) {
    test(`${what} is ${expected} and changes nothing`, async () => {
      const before = await databaseSnapshot(stack)
      const reply = await setDisabled(user === 'target' ? target : randomUUID(), body)
      assert.equal(reply.status, expected)
      assert.deepEqual(await databaseSnapshot(stack), before)
    })
  }
})

describe('concurrent admin requests', () => {
  // Each admin request is one SERIALIZABLE transaction: racing requests may be refused (409), never half-applied.

  test('racing reassignments leave the member with one open conversation, with the trainer they are assigned', async () => {
    const racer = await userId(stack, 'racer@example.com')
    const trainers = [id.trainer, await userId(stack, 'trainer3@example.com')]
    assert.equal((await changeRole(trainers[1] as string, { role: 'trainer' })).status, 200)

    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => assign(racer, { trainerId: trainers[i % 2] })),
    )

    assert.ok(replies.every((reply) => reply.status === 200 || reply.status === 409), JSON.stringify(replies.map((r) => r.status)))
    const user = await stack.db.selectFrom('users').where('id', '=', racer).select('trainer_id').executeTakeFirstOrThrow()
    const open = await stack.db
      .selectFrom('conversations')
      .where('member_id', '=', racer)
      .where('status', '=', 'open')
      .select('trainer_id')
      .execute()
    assert.deepEqual(open, [{ trainer_id: user.trainer_id }])
  })

  test('demoting a trainer while a member is being assigned to them never leaves the member with a non-trainer', async () => {
    for (let round = 0; round < 5; round++) {
      const coach = await userId(stack, `coach-${round}@example.com`)
      const pupil = await userId(stack, `pupil-${round}@example.com`)
      assert.equal((await changeRole(coach, { role: 'trainer' })).status, 200)

      const [demoted, assigned] = await Promise.all([changeRole(coach, { role: 'user' }), assign(pupil, { trainerId: coach })])

      const rows = await stack.db.selectFrom('users').where('id', 'in', [coach, pupil]).select(['id', 'role', 'trainer_id']).execute()
      const coachRow = rows.find((row) => row.id === coach)
      const pupilRow = rows.find((row) => row.id === pupil)
      const statuses = `demote ${demoted.status}, assign ${assigned.status}`
      if (pupilRow?.trainer_id === coach) assert.equal(coachRow?.role, 'trainer', statuses)
      assert.ok(demoted.status === 200 || assigned.status === 200, `one of the two wins: ${statuses}`)
      assert.notEqual(demoted.status === 200, assigned.status === 200, `exactly one wins: ${statuses}`)
    }
  })
})

describe('GET /admin/audit', () => {
  test('lists every admin action with who, what, when and why, most recent first', async () => {
    const { status, body } = await admin('/admin/audit?limit=100')

    assert.equal(status, 200)
    const rows = await auditRows(stack)
    assert.equal(body.entries.length, rows.length)
    assert.deepEqual(
      body.entries.map((e: { action: string }) => e.action),
      rows.map((row) => row.action).reverse(),
    )
    const reassignment = body.entries.find((e: { reason: string | null }) => e.reason === 'Schedule change')
    assert.deepEqual(
      { action: reassignment.action, targetType: reassignment.targetType, targetId: reassignment.targetId, actor: reassignment.actor },
      { action: 'user.trainer_assigned', targetType: 'user', targetId: id.member, actor: { id: id.admin, email: ADMIN, displayName: 'Ada Admin' } },
    )
    assert.ok(!Number.isNaN(Date.parse(reassignment.createdAt)))
  })

  test('pages with an opaque cursor, each entry exactly once', async () => {
    const all = (await admin('/admin/audit?limit=100')).body.entries.map((e: { id: string }) => e.id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const query: string = cursor ? `&cursor=${cursor}` : ''
      const { body } = await admin(`/admin/audit?limit=2${query}`)
      seen.push(...body.entries.map((e: { id: string }) => e.id))
      cursor = body.nextCursor
    } while (cursor && seen.length <= all.length)
    assert.deepEqual(seen, all)
  })

  test('400 for a cursor that is not one', async () => {
    const { status, body } = await admin('/admin/audit?cursor=eyJ9')
    assert.equal(status, 400)
    assert.equal(body.error.details.issues[0].path, 'cursor')
  })
})
