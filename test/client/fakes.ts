import type { Timers, WebSocketConstructor } from '../../client/src/index.ts'

/** A clock the test moves by hand: timers fire only inside `advance`, in due order. */
export class ManualClock implements Timers {
  private time = 0
  private nextId = 1
  private readonly due = new Map<number, { at: number; callback: () => void }>()

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++
    this.due.set(id, { at: this.time + Math.max(0, ms), callback })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number)
  }

  /** Moves time forward, firing each timer that comes due and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms
    for (;;) {
      await settle()
      const next = [...this.due.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0]
      if (!next) break
      this.due.delete(next[0])
      this.time = next[1].at
      next[1].callback()
    }
    this.time = until
    await settle()
  }
}

/** Lets every pending promise chain run (a macrotask turn, a few times over). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** A WebSocket whose server side is the test: it sees what the client sent and answers by hand. */
export class FakeSocket {
  static instances: FakeSocket[] = []
  readyState = 0
  onopen: ((event: unknown) => void) | null = null
  onmessage: ((event: { data: string }) => void) | null = null
  onclose: ((event: { code: number; reason: string }) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  readonly sent: Array<Record<string, any>> = []

  constructor(readonly url: string) {
    FakeSocket.instances.push(this)
  }

  static reset(): void {
    FakeSocket.instances = []
  }

  static get last(): FakeSocket {
    const socket = FakeSocket.instances.at(-1)
    if (!socket) throw new Error('no socket was opened')
    return socket
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, any>)
  }

  close(): void {
    if (this.readyState === 3) return
    this.readyState = 3
    this.onclose?.({ code: 1000, reason: '' })
  }

  // ---- the server's side ----
  accept(): void {
    this.readyState = 1
    this.onopen?.({})
  }

  refuse(message = 'connect ECONNREFUSED'): void {
    this.readyState = 3
    this.onerror?.({ message })
    this.onclose?.({ code: 1006, reason: '' })
  }

  reply(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }

  drop(code = 1006): void {
    this.readyState = 3
    this.onclose?.({ code, reason: '' })
  }

  /** The frames sent with this action, in order. */
  frames(action: string): Array<Record<string, any>> {
    return this.sent.filter((frame) => frame.action === action)
  }
}

export const FakeWebSocket = FakeSocket as unknown as WebSocketConstructor
