/**
 * An in-memory token bucket per key, for limits that are cheap to get slightly wrong: it lives in
 * one process (a Lambda container), so a client spread over several containers gets a few times
 * the rate, and it forgets everything on a cold start. Use it only to shed load that needs no
 * database (typing indicators); anything that must hold across containers belongs in the database.
 */
export interface Throttle {
  /** Spends one token for `key` if one is there; false means drop the request. */
  allow(key: string): boolean
}

export interface ThrottleOptions {
  burst: number
  perSecond: number
  /** Keys remembered at most; the least recently used are forgotten first, which only ever lets more through. */
  maxKeys?: number
  now?: () => number
}

interface Bucket {
  tokens: number
  at: number
}

export function createThrottle(options: ThrottleOptions): Throttle {
  const { burst, perSecond } = options
  const maxKeys = options.maxKeys ?? 10_000
  const now = options.now ?? Date.now
  // A Map iterates in insertion order: re-inserting on every use makes the first key the least recently used.
  const buckets = new Map<string, Bucket>()
  return {
    allow(key) {
      const time = now()
      const bucket = buckets.get(key)
      const tokens = bucket ? Math.min(burst, bucket.tokens + (Math.max(0, time - bucket.at) / 1000) * perSecond) : burst
      const allowed = tokens >= 1
      buckets.delete(key)
      buckets.set(key, { tokens: allowed ? tokens - 1 : tokens, at: time })
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string)
      return allowed
    },
  }
}
