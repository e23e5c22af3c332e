import assert from 'node:assert/strict'
import { CompactSign, SignJWT } from 'jose'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createTokenVerifier, type TokenVerifier } from '../../lambdas/adapters/jwt.ts'
import { isChatError } from '../../lambdas/core/errors.ts'
import { b64url, createSigningKey, startJwksServer, type JwksServer } from '../helpers/jwks-server.ts'
import { captureOutput } from '../helpers/output.ts'

/**
 * The token verifier against an identity provider we control: a real JWKS over HTTP whose fetches
 * we count, slow down, fail and rotate. Every refusal is a ChatError `unauthorized` (401 at the
 * handshake, never a 500), and nothing written to stdout or stderr contains the token.
 */

let idp: JwksServer

before(async () => {
  idp = await startJwksServer()
})
after(() => idp.close())

function verifierFor(server: JwksServer, options: Parameters<typeof createTokenVerifier>[1] = {}, tokenUse: 'id' | 'access' = 'id'): TokenVerifier {
  return createTokenVerifier(
    { issuer: server.issuer, jwksUrl: server.url, audience: server.audience, tokenUse, maxTokenLifetimeSeconds: 24 * 60 * 60 },
    // A bound for a JWKS that never answers, not a measurement: a busy machine's first fetch can take seconds.
    { jwksTimeoutMs: 10_000, ...options },
  )
}

/** Asserts the token is refused as unauthorized; returns the reason (jose's code or ours). */
async function refusal(verify: TokenVerifier, token: string): Promise<string> {
  const error = await verify(token).then(() => undefined, (e: unknown) => e)
  assert.ok(error !== undefined, 'the token was accepted')
  assert.ok(isChatError(error) && error.code === 'unauthorized', `expected unauthorized, got ${String(error)}`)
  return String(error.details?.reason)
}

function assertNotLeaked(output: string, tokens: readonly string[]): void {
  for (const token of tokens) {
    for (const part of [token, ...token.split('.').filter((p) => p.length > 16)]) {
      assert.ok(!output.includes(part), 'a token (or a part of one) was written to stdout or stderr')
    }
  }
}

/** `refusal`, also asserting that nothing written meanwhile contains the token. */
async function assertRefused(verify: TokenVerifier, token: string): Promise<string> {
  const { result, output } = await captureOutput(() => refusal(verify, token))
  assertNotLeaked(output, [token])
  return result
}

/** Refuses every token at once, with one capture around the lot. */
async function assertAllRefused(verify: TokenVerifier, tokens: readonly string[]): Promise<void> {
  const { output } = await captureOutput(() => Promise.all(tokens.map((token) => refusal(verify, token))))
  assertNotLeaked(output, tokens)
}

const now = () => Math.floor(Date.now() / 1000)

/** The JWKS cache's clock, moved by hand: cooldowns pass when the test says so, not when the machine is slow. */
function manualClock() {
  let at = Date.now()
  return { now: () => at, advance: (ms: number) => void (at += ms) }
}

describe('a well-formed token from the right issuer', () => {
  test('is accepted and mapped to an identity with its expiry', async () => {
    const verify = verifierFor(idp)
    const exp = now() + 600
    const identity = await verify(await idp.sign({ exp, name: 'Some One', 'cognito:groups': ['trainer'] }))
    assert.deepEqual(identity, {
      subject: 'subject-1',
      email: 'someone@example.com',
      displayName: 'Some One',
      groups: ['trainer'],
      expiresAt: new Date(exp * 1000),
    })
  })

  test('an access token is accepted when access tokens are configured, checked against client_id', async () => {
    const verify = verifierFor(idp, {}, 'access')
    const token = await idp.sign({ token_use: 'access', aud: undefined, client_id: idp.audience, username: 'someone' })
    assert.equal((await verify(token)).subject, 'subject-1')
  })

  test('a token that expired within the 30 s clock tolerance is still accepted', async () => {
    const verify = verifierFor(idp)
    await verify(await idp.sign({ exp: now() - 5 }))
  })
})

describe('refused tokens', () => {
  const verify = () => verifierFor(idp)
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    [
      'alg none',
      async () => `${b64url({ alg: 'none', typ: 'JWT', kid: idp.key.kid })}.${b64url({ sub: 'x', iss: idp.issuer, aud: idp.audience, token_use: 'id', exp: now() + 600 })}.`,
      /ALG_NOT_ALLOWED|JWS_INVALID|JWT_INVALID/,
    ],
    [
      'HS256 signed with the public key as the secret',
      () =>
        new SignJWT({ sub: 'x', iss: idp.issuer, aud: idp.audience, token_use: 'id', exp: now() + 600 })
          .setProtectedHeader({ alg: 'HS256', kid: idp.key.kid })
          .sign(new TextEncoder().encode(idp.key.publicPem)),
      /ALG_NOT_ALLOWED/,
    ],
    ['an unknown kid', async () => idp.sign({}, { key: await createSigningKey() }), /NO_MATCHING_KEY/],
    ['expired beyond the tolerance', () => idp.sign({ exp: now() - 120 }), /EXPIRED/],
    ['no exp', () => idp.sign({ exp: undefined }), /CLAIM_VALIDATION/],
    ['nbf in the future', () => idp.sign({ nbf: now() + 300 }), /CLAIM_VALIDATION/],
    ['a wrong issuer', () => idp.sign({ iss: 'https://evil.example.com' }), /CLAIM_VALIDATION/],
    ['a wrong audience', () => idp.sign({ aud: 'someone-else' }), /CLAIM_VALIDATION/],
    ['an access token where an id token is expected', () => idp.sign({ token_use: 'access', client_id: idp.audience }), /expected an id token/],
    ['no token_use at all', () => idp.sign({ token_use: undefined }), /unexpected claims/],
    ['a string exp', () => idp.sign({ exp: String(now() + 600) as unknown as number }), /CLAIM_VALIDATION|JWT_INVALID/],
    [
      'an array as payload',
      () => new CompactSign(new TextEncoder().encode('[1,2,3]')).setProtectedHeader({ alg: 'RS256', kid: idp.key.kid }).sign(idp.key.privateKey),
      /JWT_INVALID/,
    ],
    ['two parts', async () => (await idp.sign()).split('.').slice(0, 2).join('.'), /JWS_INVALID|JWT_INVALID/],
    [
      'bad base64url in the header',
      async () => {
        const [, payload, signature] = (await idp.sign()).split('.')
        return `%%%not*base64url%%%.${payload}.${signature}`
      },
      /JWS_INVALID/,
    ],
    [
      // The signature covers the encoded text, so it is checked (and fails) before any decoding.
      'bad base64url in the payload',
      async () => {
        const [header, , signature] = (await idp.sign()).split('.')
        return `${header}.%%%not*base64url%%%.${signature}`
      },
      /SIGNATURE_VERIFICATION_FAILED/,
    ],
    ['a payload that is not JSON', async () => `${b64url({ alg: 'RS256', kid: idp.key.kid })}.${b64url('{"sub":')}.${b64url('sig')}`, /JWS_INVALID|JWT_INVALID|SIGNATURE/],
    ['10 KB of junk', async () => 'x'.repeat(10 * 1024), /malformed/],
    ['10 KB of junk shaped like a JWT', async () => `${b64url({ alg: 'RS256' })}.${'A'.repeat(10 * 1024)}.${'B'.repeat(300)}`, /malformed/],
    ['a genuine signature over a 10 KB payload', () => idp.sign({ padding: 'p'.repeat(10 * 1024) }), /malformed/],
    ['a signature cut short', async () => (await idp.sign()).slice(0, -20), /SIGNATURE|JWS_INVALID/],
  ]

  for (const [name, makeToken, reason] of cases) {
    test(`${name} → unauthorized (${reason.source})`, async () => {
      assert.match(await assertRefused(verify(), await makeToken()), reason)
    })
  }

  test('with access tokens configured: an id token, and an access token for another client, are refused', async () => {
    const verify = verifierFor(idp, {}, 'access')
    assert.match(await assertRefused(verify, await idp.sign()), /expected an access token/)
    const otherClient = await idp.sign({ token_use: 'access', aud: undefined, client_id: 'another-client' })
    assert.match(await assertRefused(verify, otherClient), /wrong client_id/)
  })
})

describe('the JWKS endpoint', () => {
  test('unreachable: tokens are refused (fail closed) within a bounded time', async () => {
    const down = await startJwksServer()
    const token = await down.sign()
    await down.takeDown()
    const verify = verifierFor(down)
    assert.match(await withDeadline(assertRefused(verify, token), 30_000), /JWKS_UNAVAILABLE/)
  })

  test('answering 503: tokens are refused', async () => {
    const failing = await startJwksServer()
    failing.failWith = 503
    try {
      assert.match(await assertRefused(verifierFor(failing), await failing.sign()), /JWKS_UNAVAILABLE/)
    } finally {
      await failing.close()
    }
  })

  test('slower than jwksTimeoutMs: the verification gives up and refuses within a bounded time', async () => {
    const slow = await startJwksServer()
    slow.delayMs = 30_000
    try {
      const verify = verifierFor(slow, { jwksTimeoutMs: 200 })
      assert.match(await withDeadline(assertRefused(verify, await slow.sign()), 10_000), /JWKS_UNAVAILABLE/)
    } finally {
      await slow.close()
    }
  })

  test('a flood of made-up kids costs no fetch within the cooldown, and one fetch per cooldown after it', async () => {
    const server = await startJwksServer()
    try {
      const clock = manualClock()
      const verify = verifierFor(server, { jwksCooldownMs: 300, jwksNow: clock.now })
      await verify(await server.sign())
      assert.equal(server.fetches, 1)

      const forged = await Promise.all(Array.from({ length: 100 }, () => server.sign({}, { kid: randomUUID() })))
      await assertAllRefused(verify, forged)
      assert.equal(server.fetches, 1, 'no refetch within the cooldown')

      clock.advance(350)
      await assertAllRefused(verify, forged)
      for (const token of forged.slice(0, 20)) await assertRefused(verify, token)
      assert.equal(server.fetches, 2, 'one refetch for the whole flood once the cooldown is over')
    } finally {
      await server.close()
    }
  })

  test('while the endpoint is down, a flood costs at most one fetch per cooldown, and cached keys keep working', async () => {
    const server = await startJwksServer()
    try {
      const clock = manualClock()
      const verify = verifierFor(server, { jwksCooldownMs: 200, jwksNow: clock.now })
      const genuine = await server.sign()
      await verify(genuine)
      server.failWith = 503
      clock.advance(250)

      for (let i = 0; i < 30; i++) await assertRefused(verify, await server.sign({}, { kid: randomUUID() }))
      assert.equal(server.fetches, 2, 'one failed refetch, then the cooldown holds')
      assert.equal((await verify(genuine)).subject, 'subject-1', 'a token signed with a cached key still verifies')
    } finally {
      await server.close()
    }
  })

  test('down at a cold start: a stream of tokens costs one fetch per retry period, not one per token', async () => {
    const server = await startJwksServer()
    server.failWith = 503
    try {
      const verify = verifierFor(server, { jwksRetryAfterFailureMs: 60_000, jwksNow: manualClock().now })
      for (let i = 0; i < 30; i++) await assertRefused(verify, await server.sign())
      assert.equal(server.fetches, 1)
    } finally {
      await server.close()
    }
  })

  test('a rotated key is accepted after exactly one refetch', async () => {
    const server = await startJwksServer()
    try {
      const clock = manualClock()
      const verify = verifierFor(server, { jwksCooldownMs: 200, jwksNow: clock.now })
      await verify(await server.sign())
      await server.rotate()
      clock.advance(250)

      const identity = await verify(await server.sign())

      assert.equal(identity.subject, 'subject-1')
      assert.equal(server.fetches, 2)
    } finally {
      await server.close()
    }
  })
})

/** Rejects if `promise` has not settled within `ms` (a bound, not a measurement). */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}
