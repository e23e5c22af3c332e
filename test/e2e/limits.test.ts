import assert from 'node:assert/strict'
import { exportSPKI, importJWK, SignJWT, type CryptoKey } from 'jose'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { LOCAL_AUDIENCE } from '../../local/stack.ts'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { b64url, createSigningKey } from '../helpers/jwks-server.ts'
import { captureOutput } from '../helpers/output.ts'
import { startTestStack, TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * The abuse limits through the local stack: the per-user send rate, typing, live connections per
 * user, browser origins, and tokens kept out of the logs. The limits are set low for this file
 * before the stack starts (the configuration is read at start-up).
 */
Object.assign(process.env, {
  RATE_LIMIT_BURST: '3',
  // Slow enough that three sends on a loaded machine never earn a token back meanwhile.
  RATE_LIMIT_PER_SECOND: '0.1',
  TYPING_BURST: '3',
  TYPING_PER_SECOND: '0.1',
  MAX_CONNECTIONS_PER_USER: '3',
  ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com',
  // Everything the handlers can log is written, so the log tests see all of it.
  LOG_LEVEL: 'debug',
})

let stack: TestStack

before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

const open = (token: string, headers?: Record<string, string>) =>
  TestClient.open(`${stack.wsUrl}/local`, token, headers ? { headers } : {})

async function joined(email: string, conversationId: string): Promise<TestClient> {
  const client = await stack.connect(email)
  await client.request({ action: 'joinConversation', conversationId })
  return client
}

async function storedWith(clientMessageId: string): Promise<number> {
  const rows = await stack.db.selectFrom('messages').where('client_message_id', '=', clientMessageId).select('id').execute()
  return rows.length
}

/** Runs `run` with the process output captured and kept off the test report (LOG_LEVEL is debug here). */
const quietly = <T>(run: () => Promise<T>) => captureOutput(run, { hideLogLines: true })

describe('the send rate limit (burst 3, one per 10 seconds)', () => {
  let pair: Pair
  let member: TestClient
  let trainer: TestClient
  before(async () => {
    pair = await createPair(stack.db, 'rate')
    trainer = await joined(pair.trainer.email, pair.conversationId)
    member = await joined(pair.member.email, pair.conversationId)
  })
  after(() => {
    member.close()
    trainer.close()
  })

  test('the fourth quick message is refused with rate_limited and retryAfterMs; nothing is stored or relayed', async () => {
    for (const n of [1, 2, 3]) {
      const ack = await member.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `rl-${n}`, body: `#${n}` })
      assert.equal(ack.type, 'newMessage')
    }

    const refused = await member.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: 'rl-4', body: '#4' })

    assert.equal(refused.type, 'error')
    assert.equal(refused.code, 'rate_limited')
    const retryAfterMs = refused.details?.retryAfterMs as number
    assert.ok(Number.isInteger(retryAfterMs) && retryAfterMs > 0 && retryAfterMs <= 10_000, `retryAfterMs ${retryAfterMs}`)
    assert.equal(await storedWith('rl-4'), 0)
    const relayed = [await trainer.nextOfType('newMessage'), await trainer.nextOfType('newMessage'), await trainer.nextOfType('newMessage')]
    assert.deepEqual(relayed.map((f) => f.message.clientMessageId), ['rl-1', 'rl-2', 'rl-3'])
    assert.deepEqual(await trainer.quiet(150, (f) => f.type === 'newMessage'), [], 'the refused one is not relayed')
    trainer.frames.length = 0

    await sleep(retryAfterMs)
    const retried = await member.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: 'rl-4', body: '#4' })

    assert.equal(retried.type, 'newMessage', 'after retryAfterMs the same clientMessageId goes through')
    assert.equal(await storedWith('rl-4'), 1)
    assert.equal((await trainer.nextOfType('newMessage')).message.clientMessageId, 'rl-4')
  })

  test('retries of stored messages and refused sends spend no token; the limit is per user across connections', async () => {
    const other = await createPair(stack.db, 'rate-free')
    const phone = await joined(other.member.email, other.conversationId)
    const tablet = await joined(other.member.email, other.conversationId)
    try {
      const first = await phone.request({ action: 'sendMessage', conversationId: other.conversationId, clientMessageId: 'free-1', body: 'one' })
      for (let i = 0; i < 5; i++) {
        const retry = await tablet.request({ action: 'sendMessage', conversationId: other.conversationId, clientMessageId: 'free-1', body: 'one' })
        assert.deepEqual(retry.message, first.message)
      }
      for (let i = 0; i < 5; i++) {
        const forbidden = await tablet.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `nope-${i}`, body: 'x' })
        assert.equal(forbidden.code, 'forbidden')
      }

      assert.equal((await tablet.request({ action: 'sendMessage', conversationId: other.conversationId, clientMessageId: 'free-2', body: 'two' })).type, 'newMessage')
      assert.equal((await phone.request({ action: 'sendMessage', conversationId: other.conversationId, clientMessageId: 'free-3', body: 'three' })).type, 'newMessage')
      const refused = await tablet.request({ action: 'sendMessage', conversationId: other.conversationId, clientMessageId: 'free-4', body: 'four' })
      assert.equal(refused.code, 'rate_limited', 'both devices draw from one bucket')
    } finally {
      phone.close()
      tablet.close()
    }
  })
})

describe('typing (burst 3 per connection, in memory)', () => {
  test('frames beyond the burst are dropped silently, without a database statement', async () => {
    const pair = await createPair(stack.db, 'typing')
    const trainer = await joined(pair.trainer.email, pair.conversationId)
    const member = await joined(pair.member.email, pair.conversationId)
    await stack.ws.idle()
    stack.statements.length = 0

    for (let i = 0; i < 12; i++) member.send({ action: 'typing', conversationId: pair.conversationId, isTyping: i % 2 === 0 })
    await stack.ws.idle()

    // Posted is not yet received: wait for the three, then make sure no fourth follows.
    for (let i = 0; i < 3; i++) await trainer.nextOfType('userTyping')
    const relayed = await trainer.quiet(150, (f) => f.type === 'userTyping')
    assert.equal(relayed.length, 0)
    assert.equal(stack.statements.length, 3, 'a dropped frame costs no round trip')
    assert.deepEqual(member.frames, [], 'no reply, not even an error')
    member.close()
    trainer.close()
  })
})

describe('live connections per user (at most 3)', () => {
  test('a fourth connection is refused with 429; closing one frees its slot', async () => {
    const email = `conn-${randomUUID()}@example.com`
    const clients = [await stack.connect(email), await stack.connect(email), await stack.connect(email)]

    await assert.rejects(open(await stack.token(email)), { status: 429 })

    clients[0]?.close()
    await clients[0]?.waitForClose()
    await stack.ws.idle()
    const again = await open(await stack.token(email))
    again.close()
    for (const client of clients) client.close()
  })

  test('ten connects at once: exactly three get in', async () => {
    const email = `race-${randomUUID()}@example.com`
    const token = await stack.token(email)
    const attempts = await Promise.allSettled(Array.from({ length: 10 }, () => open(token)))

    const opened = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []))
    const refusals = attempts.flatMap((a) => (a.status === 'rejected' ? [(a.reason as { status?: number }).status] : []))
    assert.equal(opened.length, 3)
    assert.deepEqual(refusals, Array(7).fill(429))
    const user = await stack.db.selectFrom('users').where('email', '=', email).select('id').executeTakeFirstOrThrow()
    const rows = await stack.db.selectFrom('connections').where('user_id', '=', user.id).select('slot').orderBy('slot').execute()
    assert.deepEqual(rows.map((r) => r.slot), [1, 2, 3])
    for (const client of opened) client.close()
  })

  test('a connection whose token has expired no longer holds a slot', async () => {
    const email = `expired-${randomUUID()}@example.com`
    const clients = [await stack.connect(email), await stack.connect(email), await stack.connect(email)]
    const user = await stack.db.selectFrom('users').where('email', '=', email).select('id').executeTakeFirstOrThrow()
    await stack.db
      .updateTable('connections')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('user_id', '=', user.id)
      .where('slot', '=', 2)
      .execute()

    const fourth = await open(await stack.token(email))

    const rows = await stack.db.selectFrom('connections').where('user_id', '=', user.id).select(['slot', 'expires_at']).execute()
    assert.equal(rows.length, 3, 'the new connection took over the expired one’s slot')
    assert.ok(rows.every((r) => new Date(r.expires_at).getTime() > Date.now()))
    fourth.close()
    for (const client of clients) client.close()
  })
})

describe('browser origins (allowed: https://app.example.com, https://admin.example.com)', () => {
  test('a browser from another origin is refused with 403, even with a valid token', async () => {
    const token = await stack.token('user1@example.com')
    await assert.rejects(open(token, { origin: 'https://evil.example.com' }), { status: 403 })
    await assert.rejects(open(token, { origin: 'https://app.example.com.evil.example.com' }), { status: 403 })
    await assert.rejects(open('', { origin: 'https://evil.example.com' }), { status: 403 })
  })

  test('an allowed origin, and an app that sends no Origin, are let in', async () => {
    const token = await stack.token('user1@example.com')
    const browser = await open(token, { origin: 'https://admin.example.com' })
    const app = await open(token)
    for (const client of [browser, app]) {
      const history = await client.request({ action: 'joinConversation', conversationId: (await conversationOf('user1@example.com')) })
      assert.equal(history.type, 'conversationHistory')
      client.close()
    }
  })

  test('an allowed origin does not excuse a bad token', async () => {
    await assert.rejects(open('not.a.jwt', { origin: 'https://app.example.com' }), { status: 401 })
  })
})

describe('hostile tokens at the handshake', () => {
  const claims = () => ({
    sub: 'attacker',
    iss: stack.issuer.issuer,
    aud: LOCAL_AUDIENCE,
    token_use: 'id',
    email: 'attacker@example.com',
    exp: Math.floor(Date.now() / 1000) + 600,
  })
  const cases: Array<[string, () => Promise<string>]> = [
    ['alg none', async () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`],
    [
      'HS256 signed with the issuer’s public key',
      async () => {
        const jwk = stack.issuer.jwks.keys[0]
        const pem = await exportSPKI((await importJWK({ ...jwk, alg: 'RS256' }, 'RS256')) as CryptoKey)
        return new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: jwk?.kid as string }).sign(new TextEncoder().encode(pem))
      },
    ],
    [
      'a key the issuer never published',
      async () => {
        const key = await createSigningKey()
        return new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey)
      },
    ],
    ['nbf in the future', () => stack.token('user1@example.com', { extra: { nbf: Math.floor(Date.now() / 1000) + 3600 } })],
    ['a string exp', () => stack.token('user1@example.com', { extra: { exp: 'tomorrow' } })],
    ['no exp', () => stack.token('user1@example.com', { extra: { exp: undefined } })],
    ['10 KB of junk', async () => 'j'.repeat(10 * 1024)],
  ]
  for (const [name, makeToken] of cases) {
    test(`${name}: 401, never 500`, async () => {
      const token = await makeToken()
      await quietly(() => assert.rejects(open(token), { status: 401 }))
      await quietly(() => assert.rejects(TestClient.open(`${stack.wsUrl}/local`, token, { viaHeader: true }), { status: 401 }))
    })
  }
})

describe('tokens in the logs', () => {
  test('no token is ever written to the logs, from the query string, a header or the REST API, accepted or refused', async () => {
    const valid = await stack.token('user1@example.com')
    const expired = await stack.token('user1@example.com', { expiresInSeconds: -3600 })
    const [header, payload] = valid.split('.')
    const forged = `${header}.${payload}.${b64url('forged-signature-that-is-long-enough')}`
    const wrongAudience = await stack.token('user1@example.com', { extra: { aud: 'another-app' } })
    const tokens = [valid, expired, forged, wrongAudience]
    const conversationId = await conversationOf('user1@example.com')

    const { output } = await quietly(async () => {
      const client = await open(valid)
      await client.request({ action: 'sendMessage', conversationId, clientMessageId: `log-${randomUUID()}`, body: `my token is ${valid}` })
      await client.request({ action: 'joinConversation', conversationId, token: valid, authorization: `Bearer ${valid}` })
      await client.request({ action: 'noSuchAction', token: valid })
      client.send(`not json ${valid}`)
      await client.nextOfType('error')
      client.close()
      for (const token of [expired, forged, wrongAudience]) {
        await assert.rejects(open(token), { status: 401 })
        await assert.rejects(TestClient.open(`${stack.wsUrl}/local`, token, { viaHeader: true }), { status: 401 })
        assert.equal((await stack.api('/me', { token })).status, 401)
      }
      await assert.rejects(open(valid, { origin: 'https://evil.example.com' }), { status: 403 })
      await stack.ws.idle()
    })

    assert.match(output, /token refused/, 'the refusals were logged (so the capture saw the logs)')
    assert.match(output, /disallowed origin/)
    for (const token of tokens) {
      for (const part of [token, ...token.split('.').filter((p) => p.length > 16)]) {
        assert.ok(!output.includes(part), `a token part was logged: ${part.slice(0, 12)}…`)
      }
    }
  })
})

async function conversationOf(email: string): Promise<string> {
  return (await stack.api('/conversations', { email })).body.conversations[0].id
}
