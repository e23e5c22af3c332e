import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cleanFileName } from '../../lambdas/core/attachments.ts'
import { ChatError } from '../../lambdas/core/errors.ts'
import { cleanDisplayName, identityFromTokenClaims, MAX_DISPLAY_NAME_CHARS } from '../../lambdas/core/identity.ts'
import { identityFromClaims } from '../../lambdas/http/toolkit.ts'

/**
 * The identity rule as a table (#11 items 8, 9, 12): the attack, the answer, and what the stored
 * identity would be. Both sign-ins use it: the WebSocket authorizer on the JWT payload
 * (numbers, booleans) and REST on API Gateway's flattened claims (strings), so each row runs in
 * both shapes. Nothing is stored by the rule itself; the end-to-end table (identity-stack.test.ts)
 * checks that refused tokens leave no user row.
 */

const NOW = 1_800_000_000
const nowMs = NOW * 1000
const base = { sub: 'subject-1', iat: NOW, exp: NOW + 3600, email: 'ada@example.com', email_verified: true, name: 'Ada' }

/** API Gateway's HTTP API form of the same claims. */
const flattened = (claims: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))

type Outcome = { refused: RegExp } | { email: string; displayName: string }

const table: Array<{ attack: string; claims: Record<string, unknown>; expected: Outcome }> = [
  // item 12: token age
  { attack: 'iat ten minutes in the future', claims: { iat: NOW + 600, exp: NOW + 4200 }, expected: { refused: /future/ } },
  { attack: 'iat 20 s ahead (inside the 30 s clock tolerance), for contrast', claims: { iat: NOW + 20, exp: NOW + 3620 }, expected: { email: 'ada@example.com', displayName: 'Ada' } },
  { attack: 'a lifetime of 24 h and one second', claims: { iat: NOW - 10, exp: NOW - 10 + 86_401 }, expected: { refused: /longer/ } },
  { attack: 'a lifetime of exactly 24 h, for contrast', claims: { iat: NOW - 10, exp: NOW - 10 + 86_400 }, expected: { email: 'ada@example.com', displayName: 'Ada' } },
  { attack: 'a ten-year token', claims: { iat: NOW, exp: NOW + 10 * 365 * 86_400 }, expected: { refused: /longer/ } },
  { attack: 'no iat at all', claims: { iat: undefined }, expected: { refused: /issue time/ } },
  { attack: 'an expired token', claims: { iat: NOW - 7200, exp: NOW - 3600 }, expected: { refused: /expired/ } },
  // item 9: bytes PostgreSQL refuses, in the claims
  { attack: 'a NUL in the subject', claims: { sub: 'subject\u0000-1' }, expected: { refused: /subject/ } },
  { attack: 'a bidi override in the subject', claims: { sub: 'subject\u202E-1' }, expected: { refused: /subject/ } },
  { attack: 'a NUL in the name', claims: { name: 'Ada\u0000 Lovelace' }, expected: { email: 'ada@example.com', displayName: 'Ada Lovelace' } },
  { attack: 'a NUL in the email', claims: { email: 'ada\u0000@example.com' }, expected: { email: '', displayName: 'Ada' } },
  // item 8: profile claims
  { attack: 'an unverified email', claims: { email_verified: undefined }, expected: { email: '', displayName: 'Ada' } },
  { attack: 'email_verified false', claims: { email_verified: false, email: 'admin@example.com' }, expected: { email: '', displayName: 'Ada' } },
  { attack: 'two addresses in one email claim', claims: { email: 'ada@example.com admin@example.com' }, expected: { email: '', displayName: 'Ada' } },
  { attack: 'a right-to-left override in the name', claims: { name: 'Ada \u202Enimda\u202C' }, expected: { email: 'ada@example.com', displayName: 'Ada nimda' } },
  { attack: 'bidi isolates in the name', claims: { name: '\u2066Ada\u2069 \u2067Admin\u2069' }, expected: { email: 'ada@example.com', displayName: 'Ada Admin' } },
  { attack: 'control characters and line breaks in the name', claims: { name: 'Ada\u0007\r\nAdmin\u009b' }, expected: { email: 'ada@example.com', displayName: 'Ada Admin' } },
  { attack: 'a name of only control and bidi characters', claims: { name: '\u202E\u0001\u2066' }, expected: { email: 'ada@example.com', displayName: 'ada' } },
  { attack: 'a 10,000-character name', claims: { name: 'A'.repeat(10_000) }, expected: { email: 'ada@example.com', displayName: 'A'.repeat(MAX_DISPLAY_NAME_CHARS) } },
]

function run(claims: Record<string, unknown>): ReturnType<typeof identityFromTokenClaims> {
  return identityFromTokenClaims(claims, [], undefined, nowMs)
}

for (const shape of ['JWT payload (WebSocket authorizer)', 'flattened claims (REST)'] as const) {
  describe(`identity rule on the ${shape}`, () => {
    for (const { attack, claims, expected } of table) {
      const merged = { ...base, ...claims }
      const input = shape === 'flattened claims (REST)' ? flattened(merged) : Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined))
      if ('refused' in expected) {
        test(`${attack} → unauthorized`, () => {
          assert.throws(() => run(input), (e: unknown) => e instanceof ChatError && e.code === 'unauthorized' && expected.refused.test(String(e.details?.reason)))
        })
      } else {
        test(`${attack} → email ${JSON.stringify(expected.email)}, name ${JSON.stringify(expected.displayName.slice(0, 20))}`, () => {
          const identity = run(input)
          assert.equal(identity.email, expected.email)
          assert.equal(identity.displayName, expected.displayName)
          assert.equal(identity.subject, merged.sub)
        })
      }
    }
  })
}

describe('REST applies the rule to the claims API Gateway verified', () => {
  test('a token living longer than the configured maximum is refused even though API Gateway accepted it', () => {
    const now = Math.floor(Date.now() / 1000)
    const claims = { sub: 's', iat: String(now), exp: String(now + 2 * 86_400) }
    assert.throws(() => identityFromClaims(claims), (e: unknown) => e instanceof ChatError && e.code === 'unauthorized')
    // A deployment that configured a longer maximum accepts it.
    assert.equal(identityFromClaims(claims, { maxLifetimeSeconds: 3 * 86_400, clockToleranceSeconds: 30 }).subject, 's')
  })
})

describe('cleanDisplayName', () => {
  test('never cuts a character in half', () => {
    const name = cleanDisplayName('😀'.repeat(100))
    assert.equal(name, '😀'.repeat(MAX_DISPLAY_NAME_CHARS))
  })
  test('drops lone surrogates', () => assert.equal(cleanDisplayName('Ada\uD800'), 'Ada'))
})

describe('attachment file names lose bidi and control characters (#11 item 9)', () => {
  const names: Array<{ attack: string; fileName: string; stored: string }> = [
    { attack: 'a right-to-left override hiding an .exe', fileName: 'invoice\u202Efdp.exe', stored: 'invoicefdp.exe' },
    { attack: 'embeddings and isolates', fileName: '\u202Aplan\u202C \u2066v2\u2069.pdf', stored: 'plan v2.pdf' },
    { attack: 'the bidi marks', fileName: 'a\u200Eb\u200Fc\u061C.txt', stored: 'abc.txt' },
    { attack: 'C1 control characters', fileName: 'scan\u0085\u009b.png', stored: 'scan.png' },
  ]
  for (const { attack, fileName, stored } of names) {
    test(`${attack} → ${JSON.stringify(stored)}`, () => assert.equal(cleanFileName(fileName), stored))
  }
  test('a name of only bidi characters is refused as bad_request', () => {
    assert.throws(() => cleanFileName('\u202E\u2066'), (e: unknown) => e instanceof ChatError && e.code === 'bad_request')
  })
})
