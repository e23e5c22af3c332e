import { ChatError } from './errors.ts'
import type { Identity } from './model.ts'

/**
 * The one rule that turns a verified token's claims into the identity we store and show. The
 * WebSocket authorizer applies it to the JWT payload it verified, the REST handlers to the claims
 * API Gateway's JWT authorizer passed on (flattened to strings), so both sign-ins produce the same
 * user row from the same token (#11 items 8, 9, 12).
 *
 * 1. The token's age: `iat` must be present and not in the future beyond the clock tolerance, and
 *    `exp - iat` at most the configured maximum lifetime (Cognito's 24 h by default).
 * 2. The subject is the user's key: one PostgreSQL cannot store (NUL) or any control character
 *    refuses the token rather than being cleaned into someone else's subject.
 * 3. The email counts only when `email_verified` is true, and only if it looks like one address;
 *    otherwise the identity carries none ('') and the stored email is left as it was.
 * 4. The display name is cleaned (control and bidi characters removed, whitespace collapsed,
 *    bounded); an empty result falls back to the email's local part, the username, the subject.
 */

export interface TokenAgePolicy {
  /** The longest `exp - iat` accepted (config JWT_MAX_TOKEN_LIFETIME_SECONDS). */
  maxLifetimeSeconds: number
  /** How far `iat` may be ahead of our clock (and `exp` behind it) before a token is refused. */
  clockToleranceSeconds: number
}

export const DEFAULT_TOKEN_AGE_POLICY: TokenAgePolicy = Object.freeze({ maxLifetimeSeconds: 24 * 60 * 60, clockToleranceSeconds: 30 })

export const MAX_DISPLAY_NAME_CHARS = 64
const MAX_EMAIL_CHARS = 254
const MAX_SUBJECT_CHARS = 256

/** The claims the rule reads, as a JWT payload (numbers, booleans) or API Gateway's flattened strings. */
export type RawClaims = Record<string, unknown>

export interface ClaimedIdentity extends Identity {
  expiresAt: Date
}

export function identityFromTokenClaims(
  claims: RawClaims,
  groups: string[],
  policy: TokenAgePolicy = DEFAULT_TOKEN_AGE_POLICY,
  nowMs: number = Date.now(),
): ClaimedIdentity {
  const exp = numericClaim(claims.exp)
  const iat = numericClaim(claims.iat)
  if (exp === undefined) throw refused('the token has no expiry')
  if (iat === undefined) throw refused('the token has no issue time')
  const now = nowMs / 1000
  if (exp < now - policy.clockToleranceSeconds) throw refused('the token has expired')
  if (iat > now + policy.clockToleranceSeconds) throw refused('the token was issued in the future')
  if (exp - iat > policy.maxLifetimeSeconds) throw refused(`the token lives longer than ${policy.maxLifetimeSeconds} s`)

  const subject = claims.sub
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_CHARS || UNSAFE_IN_KEY.test(subject)) {
    throw refused('the token’s subject is malformed')
  }
  const email = verifiedEmail(claims)
  const displayName =
    cleanDisplayName(stringClaim(claims.name)) ||
    cleanDisplayName(email.split('@')[0]) ||
    cleanDisplayName(stringClaim(claims.username)) ||
    cleanDisplayName(subject)
  return { subject, email, displayName, groups: groups.filter((group) => !UNSAFE_IN_KEY.test(group)), expiresAt: new Date(exp * 1000) }
}

/** The email when the token says it is verified and it is one plausible address; '' otherwise. */
function verifiedEmail(claims: RawClaims): string {
  const verified = claims.email_verified === true || claims.email_verified === 'true'
  const email = stringClaim(claims.email)?.trim()
  if (!verified || !email || email.length > MAX_EMAIL_CHARS) return ''
  return /^[^\s@\p{Cc}\p{Cf}]+@[^\s@\p{Cc}\p{Cf}]+$/u.test(email) ? email : ''
}

/**
 * A name safe to store and show: no C0/C1 control characters (NUL among them), no bidi
 * embeddings, overrides or isolates (U+202A–U+202E, U+2066–U+2069) nor marks that could reorder
 * what an admin reads, no lone surrogates; runs of whitespace become one space; at most
 * MAX_DISPLAY_NAME_CHARS characters (code points, never half a pair).
 */
export function cleanDisplayName(name: string | undefined): string {
  if (name === undefined) return ''
  const cleaned = stripUnsafeText(name).replace(/\s+/gu, ' ').trim()
  return Array.from(cleaned).slice(0, MAX_DISPLAY_NAME_CHARS).join('').trim()
}

/** Bidi controls: embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, and the marks U+200E, U+200F, U+061C. */
export const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/gu

/** Removes control characters (except ordinary whitespace, which the caller collapses), bidi controls and lone surrogates. */
export function stripUnsafeText(text: string): string {
  return text
    .replace(/[\uD800-\uDFFF]/gu, '')
    .replace(/[\t\n\r\f\v\u2028\u2029]/gu, ' ')
    .replace(/\p{Cc}/gu, '')
    .replace(BIDI_CONTROLS, '')
}

/** NUL, any other control character, or a bidi control: never cleaned in a key, refused. */
const UNSAFE_IN_KEY = /[\p{Cc}\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]|[\uD800-\uDFFF]/u

function numericClaim(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string' && /^\d{1,12}(\.\d+)?$/.test(value)) return Number(value)
  return undefined
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function refused(reason: string): ChatError {
  return new ChatError('unauthorized', 'Missing or invalid token', { reason })
}
