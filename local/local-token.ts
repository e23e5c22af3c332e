import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { findDemoUser } from './demo-users.ts'
import type { LocalEnv } from './env.ts'
import { loadIssuer } from './issuer.ts'
import { LOCAL_AUDIENCE, localIssuerUrl } from './stack.ts'

/**
 * A token from the local issuer for an email (the key lives in DATA_DIR, so the stack need not
 * run). Demo users get their seeded identity; any other email a stable subject derived from it.
 */
export async function mintLocalToken(env: LocalEnv, email: string, expiresInSeconds = 3600): Promise<{ token: string; demo: boolean; role: string }> {
  const issuer = await loadIssuer(resolve(env.DATA_DIR), localIssuerUrl(env.HOST, env.HTTP_PORT), LOCAL_AUDIENCE)
  const demo = findDemoUser(email)
  const token = await issuer.mint(
    {
      sub: demo?.subject ?? uuidFromEmail(email),
      email: email.toLowerCase(),
      name: demo?.displayName ?? email.split('@')[0] ?? email,
      groups: demo?.groups ?? [],
    },
    { expiresInSeconds },
  )
  return { token, demo: demo !== undefined, role: demo?.role ?? 'new member' }
}

function uuidFromEmail(value: string): string {
  const hex = createHash('sha256').update(value.toLowerCase()).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}
