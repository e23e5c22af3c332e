import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { initialRole } from '../../lambdas/core/model.ts'
import { parseGroups } from '../../lambdas/handlers/ws-connect.ts'
import { identityFromClaims } from '../../lambdas/http/toolkit.ts'

/**
 * Refusals as a table: the attack, the answer expected, and what must not have changed.
 * Issue #11 item 7: group names are whole names, never split on a separator.
 */

const groupAttacks: Array<{ attack: string; groups: string[]; expectedRole: 'user' | 'trainer' | 'admin' }> = [
  { attack: 'a group named `coaches,admin`', groups: ['coaches,admin'], expectedRole: 'user' },
  { attack: 'a group named `coaches admin`', groups: ['coaches admin'], expectedRole: 'user' },
  { attack: 'a group named `admin,trainer`', groups: ['admin,trainer'], expectedRole: 'user' },
  { attack: 'a group named `[admin]`', groups: ['[admin]'], expectedRole: 'user' },
  { attack: 'the real admin group, for contrast', groups: ['admin'], expectedRole: 'admin' },
]

describe('WebSocket: groups travel from the authorizer to $connect as a JSON array', () => {
  for (const { attack, groups, expectedRole } of groupAttacks) {
    test(`${attack} → ${expectedRole}; the names arrive unchanged`, () => {
      const received = parseGroups(JSON.stringify(groups))
      assert.deepEqual(received, groups, 'nothing split, nothing added')
      assert.equal(initialRole(received), expectedRole)
    })
  }
  test('a context that is not a JSON array of strings is no group at all', () => {
    for (const raw of ['admin', 'admin,trainer', '{"0":"admin"}', '[1]', '']) assert.deepEqual(parseGroups(raw), [], raw)
  })
})

describe('HTTP: the flattened "[a b]" claim is parsed exactly', () => {
  const table: Array<{ attack: string; claim: string; groups: string[]; expectedRole: 'user' | 'admin' }> = [
    { attack: 'a comma inside one name', claim: '[coaches,admin]', groups: ['coaches,admin'], expectedRole: 'user' },
    { attack: 'an unbracketed string', claim: 'admin', groups: [], expectedRole: 'user' },
    { attack: 'a half-bracketed string', claim: '[admin', groups: [], expectedRole: 'user' },
    { attack: 'two real groups, for contrast', claim: '[trainer admin]', groups: ['trainer', 'admin'], expectedRole: 'admin' },
  ]
  for (const { attack, claim, groups, expectedRole } of table) {
    test(`${attack} (${claim}) → ${expectedRole}`, () => {
      const now = Math.floor(Date.now() / 1000)
      const identity = identityFromClaims({ sub: 'user-1', iat: String(now), exp: String(now + 3600), 'cognito:groups': claim })
      assert.deepEqual(identity.groups, groups)
      assert.equal(initialRole(identity.groups), expectedRole)
    })
  }
})
