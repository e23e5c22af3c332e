import { readLocalEnv } from './env.ts'
import { mintLocalToken } from './local-token.ts'

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

const { token, role } = await mintLocalToken(readLocalEnv(), email, expiresInSeconds)
console.error(`token for ${email} (${role}), valid ${expiresInSeconds} s:`)
console.log(token)
