import { resolve } from 'node:path'
import { findDemoUser } from './demo-users.ts'
import { readLocalEnv } from './env.ts'
import { loadIssuer } from './issuer.ts'
import { LOCAL_AUDIENCE, localIssuerUrl } from './stack.ts'
import { createHash } from 'node:crypto'

/**
 * `npm run token -- <email> [--ttl 8h | --expires-in <seconds>]`: prints a token from the local
 * issuer as the last line. Works whether or not the stack runs (the key lives in DATA_DIR). Demo users get
 * their seeded identity; any other email gets a stable subject derived from it (a new member).
 */
const args = process.argv.slice(2)
const email = args.find((arg, i) => !arg.startsWith('--') && !['--ttl', '--expires-in'].includes(args[i - 1] ?? ''))
const USAGE = 'usage: npm run token -- <email> [--ttl <duration: 90s, 30m, 8h, 7d>] (default 1h)'
if (!email) {
  console.error(USAGE)
  process.exit(2)
}
const expiresInSeconds = parseLifetime(args)

/** `--ttl 8h` (s, m, h or d) or `--expires-in <seconds>`; one hour by default. */
function parseLifetime(argv: string[]): number {
  const ttlIndex = argv.indexOf('--ttl')
  if (ttlIndex >= 0) {
    const match = /^(\d+)([smhd])?$/.exec(argv[ttlIndex + 1] ?? '')
    if (!match) {
      console.error(`--ttl wants a duration such as 90s, 30m, 8h or 7d; ${USAGE}`)
      process.exit(2)
    }
    return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd']
  }
  const expiresIndex = argv.indexOf('--expires-in')
  if (expiresIndex >= 0) {
    const seconds = Number(argv[expiresIndex + 1])
    if (!Number.isInteger(seconds)) {
      console.error(`--expires-in wants whole seconds; ${USAGE}`)
      process.exit(2)
    }
    return seconds
  }
  return 3600
}

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
