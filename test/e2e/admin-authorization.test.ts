import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { httpRoutes } from '../../lambdas/http/routes.ts'
import { ADMIN, databaseSnapshot, userId } from '../helpers/admin.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/**
 * Only admins, by the database's account of them, may use an admin route: for every route,
 * no token is 401, a valid token of anyone else is 403 and changes nothing, and an admin's
 * request succeeds.
 */

let stack: TestStack
const ids = {} as Record<
  'member' | 'trainer' | 'otherTrainer' | 'conversation' | 'message' | 'newMember' | 'roleTarget' | 'disableTarget' | 'eraseTarget' | 'report',
  string
>

before(async () => {
  stack = await startTestStack()
  ids.member = await userId(stack, 'user1@example.com')
  ids.trainer = await userId(stack, 'trainer1@example.com')
  ids.otherTrainer = await userId(stack, 'trainer2@example.com')
  ids.newMember = await userId(stack, 'matrix-member@example.com')
  ids.roleTarget = await userId(stack, 'matrix-role@example.com')
  ids.disableTarget = await userId(stack, 'matrix-disable@example.com')
  ids.eraseTarget = await userId(stack, 'matrix-erase@example.com')
  ids.conversation = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  const member = await stack.connect('user1@example.com')
  const sent = await member.request({ action: 'sendMessage', conversationId: ids.conversation, clientMessageId: 'm1', body: 'hello' })
  ids.message = sent.message.id
  member.close()
  const trainer = await stack.connect('trainer1@example.com')
  const reported = await trainer.request({ action: 'sendMessage', conversationId: ids.conversation, clientMessageId: 't1', body: 'a reported message' })
  trainer.close()
  const filed = await stack.api(`/messages/${reported.message.id}/report`, { method: 'POST', email: 'user1@example.com', body: { reason: 'spam' } })
  ids.report = filed.body.id

  // An admin whose account was disabled, and a member whose token claims the admin group.
  await stack.api('/me', { email: 'disabled-admin@example.com', token: await adminGroupToken('disabled-admin@example.com') })
  await stack.db.updateTable('users').set({ disabled_at: new Date() }).where('email', '=', 'disabled-admin@example.com').execute()
  await stack.ws.idle()
})
after(() => stack.close())

function adminGroupToken(email: string, sub = `sub-${email}`): Promise<string> {
  return stack.issuer.mint({ sub, email, name: email, groups: ['admin'] })
}

interface Call {
  method: string
  path: string
  body?: unknown
}

/** A valid request for each admin route, in an order where each admin call can succeed. */
const calls: Record<string, () => Call> = {
  'GET /admin/conversations': () => ({ method: 'GET', path: '/admin/conversations?status=open' }),
  'GET /admin/conversations/{id}/messages': () => ({ method: 'GET', path: `/admin/conversations/${ids.conversation}/messages` }),
  'POST /admin/conversations/{id}/close': () => ({
    method: 'POST',
    path: `/admin/conversations/${ids.conversation}/close`,
    body: { reason: 'matrix' },
  }),
  'POST /admin/conversations/{id}/reopen': () => ({ method: 'POST', path: `/admin/conversations/${ids.conversation}/reopen` }),
  'GET /admin/users': () => ({ method: 'GET', path: '/admin/users?role=trainer' }),
  'PUT /admin/users/{id}/trainer': () => ({
    method: 'PUT',
    path: `/admin/users/${ids.newMember}/trainer`,
    body: { trainerId: ids.otherTrainer },
  }),
  'PUT /admin/users/{id}/role': () => ({ method: 'PUT', path: `/admin/users/${ids.roleTarget}/role`, body: { role: 'trainer' } }),
  'PUT /admin/users/{id}/disabled': () => ({
    method: 'PUT',
    path: `/admin/users/${ids.disableTarget}/disabled`,
    body: { disabled: true, reason: 'matrix' },
  }),
  'DELETE /admin/messages/{id}': () => ({ method: 'DELETE', path: `/admin/messages/${ids.message}`, body: { reason: 'matrix' } }),
  'GET /admin/audit': () => ({ method: 'GET', path: '/admin/audit' }),
  'POST /admin/users/{id}/erase': () => ({ method: 'POST', path: `/admin/users/${ids.eraseTarget}/erase`, body: { reason: 'matrix' } }),
  'GET /admin/reports': () => ({ method: 'GET', path: '/admin/reports?status=open' }),
  'POST /admin/reports/{id}/resolve': () => ({
    method: 'POST',
    path: `/admin/reports/${ids.report}/resolve`,
    body: { action: 'dismiss', note: 'matrix' },
  }),
}

let newcomers = 0
const refusedCallers: Array<{ who: string; status: number; init: () => Promise<{ email?: string; token?: string }> }> = [
  { who: 'an anonymous caller (no token)', status: 401, init: async () => ({}) },
  { who: 'a caller with an expired token', status: 401, init: async () => ({ token: await stack.token(ADMIN, { expiresInSeconds: -300 }) }) },
  { who: 'a member', status: 403, init: async () => ({ email: 'user1@example.com' }) },
  // Refused before they were ever recorded: not even their user row may stay behind.
  { who: 'a first-time caller', status: 403, init: async () => ({ email: `newcomer-${++newcomers}@example.com` }) },
  { who: 'a trainer', status: 403, init: async () => ({ email: 'trainer1@example.com' }) },
  {
    who: 'a member whose token claims the admin group',
    status: 403,
    init: async () => ({ token: await adminGroupToken('user1@example.com', '0d3a0000-0000-4000-8000-000000000021') }),
  },
  {
    who: 'a disabled admin',
    status: 403,
    init: async () => ({ token: await adminGroupToken('disabled-admin@example.com') }),
  },
]

test('the matrix covers every admin route', () => {
  assert.deepEqual(Object.keys(calls).sort(), httpRoutes().filter((route) => route.access === 'admin').map((route) => route.key).sort())
})

for (const [routeKey, call] of Object.entries(calls)) {
  describe(routeKey, () => {
    let snapshot: unknown
    before(async () => {
      snapshot = await databaseSnapshot(stack)
    })

    for (const caller of refusedCallers) {
      test(`${caller.who} gets ${caller.status}`, async () => {
        const { method, path, body } = call()
        const { status, body: reply } = await stack.api(path, { method, body, ...(await caller.init()) })
        assert.equal(status, caller.status)
        if (status === 403) assert.equal(reply.error.code, 'forbidden')
      })
    }

    test('the refused requests changed nothing', async () => {
      await stack.ws.idle()
      assert.deepEqual(await databaseSnapshot(stack), snapshot)
    })

    test('an admin succeeds, their caller resolved once, by the transaction’s first statement', async () => {
      const { method, path, body } = call()
      stack.statements.length = 0
      const { status, body: reply } = await stack.api(path, { method, body, email: ADMIN })
      assert.equal(status, 200, JSON.stringify(reply))
      // The users upsert (adapters/users-upsert.ts) is the caller lookup: no other statement repeats it.
      const statements = stack.statements.filter((sql) => !/^\s*(start transaction|begin|commit|rollback)\b/i.test(sql))
      const callerLookups = statements.flatMap((sql, index) => (/\bupserted AS \(/.test(sql) ? [index] : []))
      assert.deepEqual(callerLookups, [0])
    })
  })
}

test('the audit trail holds exactly the admin’s changes, most recent first', async () => {
  const { body } = await stack.api('/admin/audit', { email: ADMIN })
  assert.deepEqual(
    body.entries.map((entry: { action: string; actor: { email: string } }) => [entry.action, entry.actor.email]),
    [
      ['report.resolved', ADMIN],
      ['user.erased', ADMIN],
      ['message.hidden', ADMIN],
      ['user.disabled', ADMIN],
      ['user.role_changed', ADMIN],
      ['user.trainer_assigned', ADMIN],
      ['conversation.reopened', ADMIN],
      ['conversation.closed', ADMIN],
    ],
  )
})

test('GET /openapi.json is public and describes the admin routes', async () => {
  const { status, body } = await stack.api('/openapi.json')
  assert.equal(status, 200)
  assert.match(body.openapi, /^3\.1\./)
  for (const route of httpRoutes().filter((r) => r.access === 'admin')) {
    const [method, path] = route.key.split(' ') as [string, string]
    assert.ok(body.paths[path]?.[method.toLowerCase()], route.key)
  }
})
