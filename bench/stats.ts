/** Small numeric and formatting helpers shared by the bench sections. */

export interface Summary {
  n: number
  p50: number
  p99: number
  min: number
  max: number
  mean: number
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] as number
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50)
}

export function summarize(samples: readonly number[]): Summary {
  const sum = samples.reduce((total, value) => total + value, 0)
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    min: samples.length ? Math.min(...samples) : Number.NaN,
    max: samples.length ? Math.max(...samples) : Number.NaN,
    mean: samples.length ? sum / samples.length : Number.NaN,
  }
}

/** Rounds for JSON so the files stay readable (3 significant decimals of a millisecond). */
export function round(value: number, digits = 3): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export function roundSummary(summary: Summary): Summary {
  return {
    n: summary.n,
    p50: round(summary.p50),
    p99: round(summary.p99),
    min: round(summary.min),
    max: round(summary.max),
    mean: round(summary.mean),
  }
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value >= 100) return `${value.toFixed(0)} ms`
  if (value >= 10) return `${value.toFixed(1)} ms`
  return `${value.toFixed(2)} ms`
}

export function ratio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  return value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`
}

export function bytes(value: number): string {
  return value >= 1000 * 1000 ? `${(value / 1e6).toFixed(2)} MB` : `${(value / 1000).toFixed(0)} KB`
}

export function count(value: number): string {
  return value.toLocaleString('en-US')
}

/** 10^n for round powers of ten, else the plain number. */
export function scale(value: number): string {
  const exponent = Math.log10(value)
  return Number.isInteger(exponent) ? `10^${exponent}` : count(value)
}

export const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds))

/** Lets queued callbacks (socket writes, stray timers) run outside a timed section. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Rotates `items` by `offset`, so interleaved variants take turns going first. */
export function rotate<T>(items: readonly T[], offset: number): T[] {
  const shift = offset % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}
