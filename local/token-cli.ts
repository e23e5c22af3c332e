import { resolve } from 'node:path'
import { findDemoUser } from './demo-users.ts'
import { readLocalEnv } from './env.ts'
import { loadIssuer } from './issuer.ts'
import { LOCAL_AUDIENCE, localIssuerUrl } from './stack.ts'
import { createHash } from 'node:crypto'

/**
 * `npm run token -- <email> [--expires-in <seconds>]`: prints a token from the local issuer as
 * the last line. Works whether or not the stack runs (the key lives in DATA_DIR). Demo users get
 * their seeded identity; any other email gets a stable subject derived from it (a new member).
 */
const args = process.argv.slice(2)
const email = args.find((arg) => !arg.startsWith('--'))
if (!email) {
  console.error('usage: npm run token -- <email> [--expires-in <seconds>]')
  process.exit(2)
}
const expiresIndex = args.indexOf('--expires-in')
const expiresInSeconds = expiresIndex >= 0 ? Number(args[expiresIndex + 1]) : 3600

const env = readLocalEnv()
const issuer = await loadIssuer(resolve(env.DATA_DIR), localIssuerUrl(env.HOST, env.HTTP_PORT), LOCAL_AUDIENCE)
const demo = findDemoUser(email)
const subject = demo?.subject ?? uuidFromEmail(email)
const token = await issuer.mint(
  { sub: subject, email: email.toLowerCase(), name: demo?.displayName ?? email.split('@')[0] ?? email, groups: demo?.groups ?? [] },
  { expiresInSeconds },
)
console.error(`token for ${email} (${demo ? demo.role : 'new member'}), valid ${expiresInSeconds} s:`)
console.log(token)

function uuidFromEmail(value: string): string {
  const hex = createHash('sha256').update(value.toLowerCase()).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}
