import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { ADMIN, userId } from '../helpers/admin.ts'
import { startTestStack, TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * #11 items 8, 9, 12 end to end: tokens the identity rule refuses are refused by the handshake
 * (401) and by REST (401), never 500, and leave no user row; the profile claims it accepts are
 * stored cleaned, by the same upsert from either sign-in.
 */

let stack: TestStack
before(async () => {
  stack = await startTestStack()
  await userId(stack, ADMIN)
})
after(() => stack.close())

const now = () => Math.floor(Date.now() / 1000)

async function users(): Promise<unknown> {
  const { rows } = await sql<{ users: unknown }>`SELECT json_agg(u ORDER BY u.id) AS users FROM users u`.execute(stack.db)
  return rows[0]?.users
}

function mint(claims: { sub?: string; email?: string; name?: string }, extra: Record<string, unknown> = {}, expiresInSeconds?: number) {
  return stack.issuer.mint(
    { sub: claims.sub ?? `sub-${randomUUID()}`, email: claims.email ?? `${randomUUID()}@example.com`, name: claims.name ?? 'Someone' },
    { extra, ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }) },
  )
}

async function handshake(token: string): Promise<number> {
  return TestClient.open(`${stack.wsUrl}/local`, token).then(
    (client) => {
      client.close()
      return 101
    },
    (error: { status?: number }) => error.status ?? 0,
  )
}

const refusedTokens: Array<{ attack: string; token: () => Promise<string> }> = [
  { attack: 'a NUL in the subject', token: () => mint({ sub: `evil\u0000${randomUUID()}` }) },
  { attack: 'iat an hour in the future', token: () => mint({}, { iat: now() + 3600, exp: now() + 7200 }) },
  { attack: 'a lifetime of 48 h', token: () => mint({}, {}, 48 * 3600) },
  { attack: 'no iat', token: () => mint({}, { iat: undefined }) },
]

describe('tokens the identity rule refuses', () => {
  for (const { attack, token } of refusedTokens) {
    test(`${attack}: handshake 401, REST 401, no user row`, async () => {
      const before = await users()
      assert.equal(await handshake(await token()), 401)
      const rest = await stack.api('/me', { token: await token() })
      assert.equal(rest.status, 401, JSON.stringify(rest.body))
      assert.deepEqual(await users(), before, 'nothing changed')
    })
  }
})

describe('profile claims are stored cleaned, the same from either sign-in', () => {
  test('control and bidi characters leave the name; a NUL in the name is not a 500', async () => {
    const sub = `sub-${randomUUID()}`
    const token = await mint({ sub, name: 'Ada\u0000 \u202Enimda\u202C\u2066!\u2069' })
    assert.equal(await handshake(token), 101)
    const row = await stack.db.selectFrom('users').select(['display_name']).where('subject', '=', sub).executeTakeFirstOrThrow()
    assert.equal(row.display_name, 'Ada nimda!')
    const me = await stack.api('/me', { token })
    assert.equal(me.status, 200)
    assert.equal(me.body.displayName, 'Ada nimda!')
  })

  test('an unverified email is not stored', async () => {
    const sub = `sub-${randomUUID()}`
    const me = await stack.api('/me', { token: await mint({ sub, email: 'boss@example.com' }, { email_verified: false }) })
    assert.equal(me.status, 200)
    assert.equal(me.body.email, '')
    const row = await stack.db.selectFrom('users').select(['email', 'email_verified']).where('subject', '=', sub).executeTakeFirstOrThrow()
    assert.deepEqual(row, { email: '', email_verified: false })
  })

  test('a verified email another user holds (in another case) is not taken, over WebSocket or REST', async () => {
    const adminBefore = await stack.db.selectFrom('users').selectAll().where('email', '=', ADMIN).executeTakeFirstOrThrow()
    const sub = `sub-${randomUUID()}`
    const token = await mint({ sub, email: ADMIN.toUpperCase(), name: 'Ada Admin' })
    assert.equal(await handshake(token), 101)
    const me = await stack.api('/me', { token })
    assert.equal(me.status, 200)
    assert.equal(me.body.email, '')
    const holders = await stack.db.selectFrom('users').select('id').where(sql`lower(email)`, '=', ADMIN).execute()
    assert.deepEqual(holders, [{ id: adminBefore.id }])
    assert.deepEqual(await stack.db.selectFrom('users').selectAll().where('id', '=', adminBefore.id).executeTakeFirstOrThrow(), adminBefore)
  })

  test('a user whose verified email changes keeps their row, now with the new email', async () => {
    const sub = `sub-${randomUUID()}`
    const first = await stack.api('/me', { token: await mint({ sub, email: `old-${sub}@example.com` }) })
    const second = await stack.api('/me', { token: await mint({ sub, email: `new-${sub}@example.com` }) })
    assert.equal(second.body.id, first.body.id)
    assert.equal(second.body.email, `new-${sub}@example.com`)
    // A later token without a verified email leaves the stored one.
    const third = await stack.api('/me', { token: await mint({ sub, email: 'boss@example.com' }, { email_verified: false }) })
    assert.equal(third.body.email, `new-${sub}@example.com`)
  })
})

describe('first contacts racing for one verified email', () => {
  test('REST answers 200 or 503 unavailable (never 500), the handshake always connects, and one user holds the email', async () => {
    const email = `race-${randomUUID()}@example.com`
    const tokens = await Promise.all(Array.from({ length: 6 }, () => mint({ email })))
    const [rest, handshakes] = await Promise.all([
      Promise.all(tokens.slice(0, 3).map((token) => stack.api('/me', { token }))),
      Promise.all(tokens.slice(3).map((token) => handshake(token))),
    ])
    for (const answer of rest) assert.ok([200, 503].includes(answer.status), JSON.stringify(answer))
    for (const answer of rest.filter((a) => a.status === 503)) assert.equal(answer.body.error.code, 'unavailable')
    assert.deepEqual(handshakes, [101, 101, 101])
    // The refused ones retry, as `unavailable` says, and get in without the email.
    for (const token of tokens.slice(0, 3)) assert.equal((await stack.api('/me', { token })).status, 200)
    const holders = await stack.db.selectFrom('users').select('id').where(sql`lower(email)`, '=', email).where('email_verified', '=', true).execute()
    assert.equal(holders.length, 1)
  })
})
