import { readLocalEnv } from './env.ts'
import { mintLocalToken } from './local-token.ts'

/**
 * `npm run token -- <email> [--ttl 8h | --expires-in <seconds>]`: prints a token from the local
 * issuer as the last line. Works whether or not the stack runs (the key lives in DATA_DIR). Demo users get
 * their seeded identity; any other email gets a stable subject derived from it (a new member).
 */
const args = process.argv.slice(2)
const email = args.find((arg, i) => !arg.startsWith('--') && !['--ttl', '--expires-in'].includes(args[i - 1] ?? ''))
const USAGE = 'usage: npm run token -- <email> [--ttl <duration: 90s, 30m, 8h, 1d>] (default 1h)'
if (!email) {
  console.error(USAGE)
  process.exit(2)
}
const expiresInSeconds = parseLifetime(args)
// The handlers refuse longer-lived tokens (#11 item 12); say so here rather than print a useless one.
const maxLifetimeSeconds = Number(process.env.JWT_MAX_TOKEN_LIFETIME_SECONDS ?? 24 * 60 * 60)
if (expiresInSeconds > maxLifetimeSeconds) {
  console.error(`tokens live at most ${maxLifetimeSeconds} s (JWT_MAX_TOKEN_LIFETIME_SECONDS, Cognito's 24 h by default); ${USAGE}`)
  process.exit(2)
}

/** `--ttl 8h` (s, m, h or d) or `--expires-in <seconds>`; one hour by default. */
function parseLifetime(argv: string[]): number {
  const ttlIndex = argv.indexOf('--ttl')
  if (ttlIndex >= 0) {
    const match = /^(\d+)([smhd])?$/.exec(argv[ttlIndex + 1] ?? '')
    if (!match) {
      console.error(`--ttl wants a duration such as 90s, 30m, 8h or 1d; ${USAGE}`)
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

const { token, role } = await mintLocalToken(readLocalEnv(), email, expiresInSeconds)
console.error(`token for ${email} (${role}), valid ${expiresInSeconds} s:`)
console.log(token)
