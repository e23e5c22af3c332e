/** Exponential backoff with full jitter: a uniformly random delay in [0, min(max, base × 2^attempt)). */
export interface BackoffOptions {
  baseMs: number
  maxMs: number
}

export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}
