import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'

/**
 * The identity provider's signing keys, fetched over HTTPS and cached per container. Key
 * selection (kid, alg, key type, `use`) is jose's `createLocalJWKSet`; this file only decides
 * when to fetch, because jose's remote set starts its cooldown only after a *successful* fetch:
 * while the endpoint is down, every token with an unknown kid (or every token, once the cache has
 * aged out) would fetch again. Here any attempt, failed or not, starts the cooldown:
 *
 * - no cache, or a cache older than `maxAgeMs`: fetch (concurrent callers share one fetch); if an
 *   attempt failed less than `retryAfterFailureMs` ago, fail at once without fetching;
 * - a kid the cache does not know: refetch once, unless any fetch started less than `cooldownMs`
 *   ago (a key rotation is picked up after at most one cooldown; a flood of made-up kids costs at
 *   most one fetch per cooldown);
 * - every fetch is cut after `timeoutMs`: a slow endpoint fails closed, it never holds a caller.
 */

export interface JwksOptions {
  timeoutMs: number
  cooldownMs: number
  maxAgeMs: number
  retryAfterFailureMs: number
  /** Milliseconds since the epoch; tests pass their own clock. */
  now?: () => number
}

/** The key set could not be fetched (unreachable, timed out, not 200, not a key set). */
export class JwksUnavailable extends Error {
  override readonly name = 'JwksUnavailable'
  readonly code = 'ERR_JWKS_UNAVAILABLE'
}

export function createJwksResolver(url: URL, options: JwksOptions): JWTVerifyGetKey {
  const clock = options.now ?? Date.now
  let keys: ReturnType<typeof createLocalJWKSet> | undefined
  let fetchedAt = Number.NEGATIVE_INFINITY
  let attemptedAt = Number.NEGATIVE_INFINITY
  let failedAt = Number.NEGATIVE_INFINITY
  let pending: Promise<void> | undefined

  const refresh = (): Promise<void> =>
    (pending ??= (async () => {
      attemptedAt = clock()
      try {
        keys = createLocalJWKSet(await fetchKeySet(url, options.timeoutMs))
        fetchedAt = clock()
      } catch (error) {
        failedAt = clock()
        throw error instanceof JwksUnavailable ? error : new JwksUnavailable('could not fetch the key set', { cause: error })
      } finally {
        pending = undefined
      }
    })())

  return async (header, token) => {
    const now = clock()
    if (!keys || now >= fetchedAt + options.maxAgeMs) {
      if (!pending && now < failedAt + options.retryAfterFailureMs) throw new JwksUnavailable('the key set is unavailable')
      await refresh()
    }
    const current = keys as NonNullable<typeof keys>
    try {
      return await current(header, token)
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || (!pending && clock() < attemptedAt + options.cooldownMs)) throw error
      await refresh()
      return (keys as NonNullable<typeof keys>)(header, token)
    }
  }
}

async function fetchKeySet(url: URL, timeoutMs: number): Promise<JSONWebKeySet> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    // A redirect would let whoever controls the target choose our keys.
    redirect: 'manual',
    headers: { accept: 'application/json, application/jwk-set+json' },
  })
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new JwksUnavailable(`the key set endpoint answered ${response.status}`)
  }
  // createLocalJWKSet checks the shape and throws JWKSInvalid for anything that is not a key set.
  return (await response.json()) as JSONWebKeySet
}
