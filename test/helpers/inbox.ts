/**
 * The client side of guarantee 2, as docs/reliability.md prescribes it: the reference an app
 * implements, used here by the tests and the load test's checker.
 *
 * The server gives every message of a conversation a gap-free `seq`, and seq n+1 is only ever
 * assigned after seq n is committed. Live `newMessage` frames can arrive out of seq order (two
 * sends fan out from two Lambdas in parallel), or not at all (a PostToConnection that failed after
 * its retries). So a client applies messages strictly in seq order: it holds a message that
 * arrives early, and if the hole before it is still open after a short grace period it asks
 * `joinConversation {afterSeq: <last applied seq>}` and feeds the answer back in here. A message
 * seen twice (a live frame and a catch-up page) is applied once.
 */
export interface SeqMessage {
  id: string
  seq: number
}

export class ConversationInbox<M extends SeqMessage = SeqMessage> {
  /** Messages applied in seq order, as the app would show them. */
  readonly applied: M[] = []
  /** Frames that arrived with a lower seq than one already received (out of order on the wire). */
  arrivedOutOfOrder = 0
  /** Frames for a message already received (a live frame and a catch-up page for the same message count here too). */
  repeats = 0
  /** The seq up to which every message has been applied. */
  lastApplied: number
  private readonly held = new Map<number, M>()
  private highestSeen: number

  /** `afterSeq`: the last seq the app already has (0 for an empty conversation). */
  constructor(afterSeq = 0) {
    this.highestSeen = afterSeq
    this.lastApplied = afterSeq
  }

  /** Takes a message from a live frame or a history page; returns the ones that became applicable, in order. */
  accept(message: M): M[] {
    if (message.seq <= this.lastApplied || this.held.has(message.seq)) {
      this.repeats++
      return []
    }
    if (message.seq < this.highestSeen) this.arrivedOutOfOrder++
    this.highestSeen = Math.max(this.highestSeen, message.seq)
    this.held.set(message.seq, message)
    const ready: M[] = []
    for (let next = this.held.get(this.lastApplied + 1); next; next = this.held.get(this.lastApplied + 1)) {
      this.held.delete(next.seq)
      this.lastApplied = next.seq
      this.applied.push(next)
      ready.push(next)
    }
    return ready
  }

  /** The afterSeq to catch up from when messages are held behind a hole, else undefined. */
  hole(): number | undefined {
    return this.held.size > 0 ? this.lastApplied : undefined
  }
}
