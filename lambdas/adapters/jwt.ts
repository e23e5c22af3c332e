import { jwtVerify, type JWTVerifyGetKey } from 'jose'
import * as z from 'zod/mini'
import type { Config } from '../config.ts'
import { ChatError } from '../core/errors.ts'
import { DEFAULT_TOKEN_AGE_POLICY, identityFromTokenClaims, type ClaimedIdentity } from '../core/identity.ts'
import { createJwksResolver } from './jwks.ts'

/**
 * Verifies Cognito-style JWTs (RS256) against the issuer's JWKS: algorithm pinned, issuer,
 * audience (id tokens) or client_id (access tokens), expiry, not-before and token_use checked.
 * The JWKS is fetched once per container and cached; an unknown `kid` triggers at most one
 * refetch per cooldown, so a flood of forged kids cannot hammer the identity provider, and an
 * unreachable or slow JWKS fails closed within `jwksTimeoutMs` (see jwks.ts).
 */

export type VerifiedToken = ClaimedIdentity

export type TokenVerifier = (token: string) => Promise<VerifiedToken>

/** Far above any real Cognito token (about 1-2 KB); refuses junk before any parsing. */
const MAX_TOKEN_CHARS = 8192
const CLOCK_TOLERANCE_SECONDS = DEFAULT_TOKEN_AGE_POLICY.clockToleranceSeconds

const Claims = z.object({
  sub: z.string().check(z.minLength(1), z.maxLength(256)),
  exp: z.number(),
  iat: z.number(),
  token_use: z.enum(['id', 'access']),
  // Any length: the identity rule bounds and cleans them (core/identity.ts); the token's own bound is MAX_TOKEN_CHARS.
  email: z.optional(z.string()),
  email_verified: z.optional(z.union([z.boolean(), z.string()])),
  name: z.optional(z.string()),
  username: z.optional(z.string()),
  client_id: z.optional(z.string()),
  'cognito:groups': z.optional(z.array(z.string())),
})

export function createTokenVerifier(
  settings: Config['jwt'],
  options: {
    keys?: JWTVerifyGetKey
    jwksTimeoutMs?: number
    jwksCooldownMs?: number
    jwksRetryAfterFailureMs?: number
    /** The JWKS cache's clock (fetch ages and cooldowns); tests pass their own. */
    jwksNow?: () => number
  } = {},
): TokenVerifier {
  const keys =
    options.keys ??
    createJwksResolver(new URL(settings.jwksUrl), {
      timeoutMs: options.jwksTimeoutMs ?? 3_000,
      cooldownMs: options.jwksCooldownMs ?? 30_000,
      maxAgeMs: 10 * 60_000,
      retryAfterFailureMs: options.jwksRetryAfterFailureMs ?? 5_000,
      now: options.jwksNow,
    })

  return async (token) => {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) throw unauthorized('malformed token')
    let payload: unknown
    try {
      ;({ payload } = await jwtVerify(token, keys, {
        algorithms: ['RS256'],
        issuer: settings.issuer,
        ...(settings.tokenUse === 'id' ? { audience: settings.audience } : {}),
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }))
    } catch (error) {
      // jose's codes (ERR_JWT_EXPIRED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ...) say why without the token.
      const code = (error as { code?: unknown } | null | undefined)?.code
      throw unauthorized(typeof code === 'string' ? code : 'invalid token', error)
    }
    const claims = Claims.safeParse(payload)
    if (!claims.success) throw unauthorized('unexpected claims')
    const c = claims.data
    if (c.token_use !== settings.tokenUse) throw unauthorized(`expected an ${settings.tokenUse} token`)
    if (settings.tokenUse === 'access' && c.client_id !== settings.audience) throw unauthorized('wrong client_id')
    // Token age, subject, verified email, clean display name: the rule REST applies too.
    return identityFromTokenClaims(c, c['cognito:groups'] ?? [], {
      maxLifetimeSeconds: settings.maxTokenLifetimeSeconds,
      clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    })
  }
}

function unauthorized(reason: string, cause?: unknown): ChatError {
  return new ChatError('unauthorized', 'Missing or invalid token', { reason }, { cause })
}

/** `Authorization: Bearer <jwt>` (any header case), else `?token=<jwt>`. */
export function extractToken(
  headers: Record<string, string | undefined> | null | undefined,
  query?: Record<string, string | undefined> | null,
): string | undefined {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'authorization' || !value) continue
    const match = /^Bearer\s+(\S+)$/i.exec(value.trim())
    return match?.[1]
  }
  return query?.token || undefined
}
