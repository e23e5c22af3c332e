/** Makes the next N calls to a service fail, so tests can exercise retries and error paths. */
export class FaultInjector {
  private remaining = 0
  private code: string

  constructor(private readonly defaultCode: string) {
    this.code = defaultCode
  }

  failNext(count: number, code?: string): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`failNext expects a non-negative integer, got ${count}`)
    this.remaining = count
    this.code = code ?? this.defaultCode
  }

  /** The error code to answer with, when this call is one of the failing ones. */
  take(): string | undefined {
    if (this.remaining === 0) return undefined
    this.remaining -= 1
    return this.code
  }
}
