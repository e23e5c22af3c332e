import { Worker } from 'node:worker_threads'
import type {
  ClientSpec,
  Command,
  ConverseArgs,
  ConverseResult,
  FanOutArgs,
  FanOutResult,
  FrameCounts,
} from './clients.ts'

/**
 * The main thread's handle on the client worker (clients.ts). Every call has a time limit, so
 * a lost reply fails the bench instead of hanging it.
 */
export class ClientPool {
  private nextId = 0
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const waiter = this.pending.get(reply.id)
      this.pending.delete(reply.id)
      if (reply.ok) waiter?.resolve(reply.result)
      else waiter?.reject(new Error(`client worker: ${reply.error}`))
    })
    worker.on('error', (error) => this.failAll(error))
    worker.on('exit', (code) => this.failAll(new Error(`client worker exited with ${code}`)))
  }

  /** Starts the worker; it runs TypeScript through tsx's loader, registered inside the thread. */
  static start(): ClientPool {
    const loader = import.meta.resolve('tsx/esm/api')
    const entry = new URL('./clients.ts', import.meta.url).href
    const source = `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}) })`
    return new ClientPool(new Worker(source, { eval: true }))
  }

  /** Opens connections, `concurrency` handshakes at a time (1 for many connections of one user: see fan-out.ts). */
  open(url: string, clients: ClientSpec[], concurrency = 16): Promise<number> {
    return this.call({ op: 'open', args: { url, clients, concurrency } }, 90_000 + clients.length * 1_000)
  }

  join(joins: Array<{ key: string; conversationId: string }>): Promise<void> {
    return this.call({ op: 'join', args: { joins } }, 90_000 + joins.length * 500)
  }

  converse(args: ConverseArgs): Promise<ConverseResult> {
    return this.call({ op: 'converse', args }, args.durationMs + 90_000)
  }

  fanOut(args: FanOutArgs): Promise<FanOutResult> {
    return this.call({ op: 'fanOut', args }, args.reps * args.targets.length * 60_000 + 5_000)
  }

  counts(reset = true): Promise<{ counts: FrameCounts; errorFrames: string[] }> {
    return this.call({ op: 'counts', args: { reset } }, 30_000)
  }

  close(keys?: string[]): Promise<number> {
    return this.call({ op: 'close', args: keys ? { keys } : {} }, 60_000)
  }

  async stop(): Promise<void> {
    await this.close().catch(() => 0)
    await this.worker.terminate()
  }

  private call<R>(command: Command, timeoutMs: number): Promise<R> {
    const id = this.nextId++
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`client worker: ${command.op} took over ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value as R)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.worker.postMessage({ id, command })
    })
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error)
    this.pending.clear()
  }
}
