/**
 * Exactly once, in `seq` order. The server gives each message of a conversation a gap-free `seq`
 * and assigns n+1 only after n is committed, but live frames can arrive out of order, twice, or
 * not at all. The buffer applies messages strictly in order: a message ahead of a hole is held
 * until the hole is filled (by a live frame or a catch-up page), and one already applied or held
 * is dropped.
 */
export interface Sequenced {
  seq: number
}

export class OrderingBuffer<M extends Sequenced> {
  private readonly held = new Map<number, M>()
  private applied: number

  /** `lastApplied`: the seq up to which the app already has every message (0: none). */
  constructor(lastApplied = 0) {
    this.applied = lastApplied
  }

  /** The seq up to which every message has been applied. */
  get lastApplied(): number {
    return this.applied
  }

  /** How many messages wait behind a hole. */
  get heldCount(): number {
    return this.held.size
  }

  /** Takes a message (live or from a page); returns those that became deliverable, in seq order. */
  accept(message: M): M[] {
    if (message.seq <= this.applied || this.held.has(message.seq)) return []
    this.held.set(message.seq, message)
    const ready: M[] = []
    for (let next = this.held.get(this.applied + 1); next; next = this.held.get(this.applied + 1)) {
      this.held.delete(next.seq)
      this.applied = next.seq
      ready.push(next)
    }
    return ready
  }

  /** When messages are held behind a hole: the `afterSeq` to catch up from; else undefined. */
  hole(): number | undefined {
    return this.held.size > 0 ? this.applied : undefined
  }
}
