/** Makes the next N calls to a service fail, so tests can exercise retries and error paths. */
export interface FaultInjector {
  failNext(count: number, code?: string): void
  /** The error code to answer with, when this call is one of the failing ones. */
  take(): string | undefined
}

export function createFaultInjector(defaultCode: string): FaultInjector {
  let remaining = 0
  let code = defaultCode
  return {
    failNext(count, nextCode) {
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`failNext expects a non-negative integer, got ${count}`)
      remaining = count
      code = nextCode ?? defaultCode
    },
    take() {
      if (remaining === 0) return undefined
      remaining -= 1
      return code
    },
  }
}
