import type { Message, Reaction, ServerFrame, ServerFrameOf } from '@trainer-chat/protocol'
import { Emitter } from './emitter.ts'
import { ChatClientError } from './errors.ts'
import { OrderingBuffer } from './ordering.ts'

/** What a conversation needs from its client: requests that survive reconnects, sends, uploads. */
export interface ConversationHost {
  call(frame: Record<string, unknown>): Promise<ServerFrame>
  fire(frame: Record<string, unknown>): boolean
  send(conversationId: string, input: { body?: string; attachmentId?: string; clientMessageId?: string; replyToId?: string }): Promise<Message>
  sendFile(conversationId: string, data: Uploadable, options: FileOptions): Promise<Message>
  history(conversationId: string, options: { before?: number; limit?: number }): Promise<{ messages: Message[]; hasMore: boolean }>
  timers: { setTimeout(callback: () => void, ms: number): unknown; clearTimeout(handle: unknown): void }
  holeGraceMs: number
  pageSize: number
}

/** Bytes to upload: a Blob (browsers, React Native) or an ArrayBuffer view (Node, tests). */
export type Uploadable = { readonly size: number } | ArrayBufferView | ArrayBuffer

export interface FileOptions {
  fileName: string
  contentType: string
  /** Text sent with the file. */
  body?: string
}

/** A change to a message already delivered: apply it to the one with `messageId`. */
export type MessageUpdate =
  /** A moderator removed it: show it as removed, without body or attachment. */
  | { type: 'removed'; conversationId: string; messageId: string }
  /** Its sender edited it: `message` is how it reads now (with `editedAt`). */
  | { type: 'edited'; conversationId: string; messageId: string; message: Message }
  /** Its sender deleted it: show it as deleted, without body, attachment or reactions. */
  | { type: 'deleted'; conversationId: string; messageId: string }
  /** Its reactions changed: `reactions` is all of them as they now stand. */
  | { type: 'reactions'; conversationId: string; messageId: string; reactions: Reaction[] }

type HandledFrame = ServerFrameOf<
  'userTyping' | 'messageRead' | 'userJoined' | 'userLeft' | 'conversationClosed' | 'messageRemoved' | 'messageUpdated' | 'messageDeleted' | 'reactionChanged' | 'presence' | 'conversationOpened'
>

export interface ConversationEvents extends Record<string, unknown> {
  /** Each message exactly once, in seq order, live or caught up. */
  message: Message
  /** A change to an earlier message: removed by a moderator, edited or deleted by its sender, its reactions. */
  update: MessageUpdate
  typing: { userId: string; isTyping: boolean }
  read: { messageId: string; userId: string; readAt: string }
  presence: { userId: string; joined: boolean }
  /** The other participant came online or went offline (lastSeenAt: null while online or when they do not share it). */
  online: { userId: string; online: boolean; lastSeenAt: string | null }
  closed: { reason: string }
  /** An admin reopened it: it can be used again. */
  opened: ServerFrameOf<'conversationOpened'>['conversation']
  /** The conversation cannot be joined (forbidden, not_found); it stops rejoining. */
  error: ChatClientError
}

export interface ConversationOptions {
  /**
   * The last seq the app already has (from its own storage): messages after it are delivered,
   * paging until the end. Without it, the first join delivers the latest page and
   * `history({ before })` reaches older ones.
   */
  afterSeq?: number
}

/**
 * One conversation: joined on every connection, its messages passed through the ordering
 * buffer, holes filled by `joinConversation {afterSeq}` paged until `hasMore` is false.
 */
export class Conversation extends Emitter<ConversationEvents> {
  private buffer: OrderingBuffer<Message> | undefined
  /** Live messages that arrived before the first page said where the conversation starts. */
  private early: Message[] = []
  private syncing: Promise<void> | undefined
  private syncAgain = false
  private holeTimer: unknown
  private failed = false
  private start: number | undefined

  constructor(
    readonly id: string,
    private readonly host: ConversationHost,
    options: ConversationOptions = {},
  ) {
    super()
    if (options.afterSeq !== undefined) this.buffer = new OrderingBuffer((this.start = options.afterSeq))
  }

  /** The seq of the first message this conversation delivered (or would): older ones come from `history`. */
  get firstSeq(): number | undefined {
    return this.start === undefined ? undefined : this.start + 1
  }

  /** The seq up to which every message has been delivered (undefined before the first page). */
  get lastSeq(): number | undefined {
    return this.buffer?.lastApplied
  }

  /** `replyToId`: the message of this conversation this one answers (it then carries `replyTo`). */
  send(body: string, options: { clientMessageId?: string; replyToId?: string } = {}): Promise<Message> {
    return this.host.send(this.id, { body, ...options })
  }

  /** Rewrites one of the caller's own messages (within the server's edit window); resolves with it as edited. */
  async edit(messageId: string, body: string): Promise<Message> {
    const frame = await this.host.call({ action: 'editMessage', conversationId: this.id, messageId, body })
    return (frame as ServerFrameOf<'messageUpdated'>).message
  }

  /** Deletes one of the caller's own messages (it keeps its seq, without body or attachment). Safe to repeat. */
  async delete(messageId: string): Promise<void> {
    await this.host.call({ action: 'deleteMessage', conversationId: this.id, messageId })
  }

  /** Adds (`on`, the default) or takes back the caller's reaction; resolves with the message's reactions. Safe to repeat. */
  async react(messageId: string, emoji: string, on = true): Promise<Reaction[]> {
    const frame = await this.host.call({ action: 'react', conversationId: this.id, messageId, emoji, on })
    return (frame as ServerFrameOf<'reactionChanged'>).reactions
  }

  sendFile(data: Uploadable, options: FileOptions): Promise<Message> {
    return this.host.sendFile(this.id, data, options)
  }

  async markRead(messageId: string): Promise<void> {
    await this.host.call({ action: 'markAsRead', conversationId: this.id, messageId })
  }

  /** Best effort: sent now if connected, dropped otherwise (a late typing indicator is worthless). */
  typing(isTyping: boolean): void {
    this.host.fire({ action: 'typing', conversationId: this.id, isTyping })
  }

  /** Older messages, newest page first: `before` a seq (default: before the first delivered one). */
  history(options: { before?: number; limit?: number } = {}): Promise<{ messages: Message[]; hasMore: boolean }> {
    return this.host.history(this.id, options)
  }

  /**
   * Joins on the current connection and catches up. Called on every new connection, on a hole
   * that outlived the grace period and on a notification; concurrent calls coalesce into one
   * more round, so a join always happens after the latest call.
   */
  sync(): Promise<void> {
    if (this.failed) return Promise.resolve()
    if (this.syncing) {
      this.syncAgain = true
      return this.syncing
    }
    this.syncing = this.runSync().finally(() => (this.syncing = undefined))
    return this.syncing
  }

  private async runSync(): Promise<void> {
    try {
      do {
        this.syncAgain = false
        if (!this.buffer) {
          const page = (await this.host.call({ action: 'joinConversation', conversationId: this.id, limit: this.host.pageSize })) as ServerFrameOf<'conversationHistory'>
          const first = page.messages[0]
          this.buffer = new OrderingBuffer((this.start = first ? first.seq - 1 : 0))
          for (const message of [...page.messages, ...this.early.splice(0)]) this.accept(message)
          continue
        }
        for (let more = true; more; ) {
          const page = (await this.host.call({
            action: 'joinConversation',
            conversationId: this.id,
            afterSeq: this.buffer.lastApplied,
            limit: this.host.pageSize,
          })) as ServerFrameOf<'conversationHistory'>
          for (const message of page.messages) this.accept(message)
          more = page.hasMore && page.messages.length > 0
        }
      } while (this.syncAgain)
    } catch (error) {
      if (error instanceof ChatClientError && error.code !== 'client_closed') {
        this.failed = true
        this.emit('error', error)
      }
    }
  }

  /** @internal A message from a live frame, an acknowledgement or a page. */
  accept(message: Message): void {
    if (!this.buffer) {
      this.early.push(message)
      return
    }
    for (const ready of this.buffer.accept(message)) this.emit('message', ready)
    this.watchHole()
  }

  /** @internal Frames about this conversation other than messages. */
  handle(frame: HandledFrame): void {
    switch (frame.type) {
      case 'userTyping':
        return this.emit('typing', { userId: frame.userId, isTyping: frame.isTyping })
      case 'messageRead':
        return this.emit('read', { messageId: frame.messageId, userId: frame.userId, readAt: frame.readAt })
      case 'userJoined':
      case 'userLeft':
        return this.emit('presence', { userId: frame.userId, joined: frame.type === 'userJoined' })
      case 'conversationClosed':
        return this.emit('closed', { reason: frame.reason })
      case 'messageRemoved':
        return this.emit('update', { type: 'removed', conversationId: this.id, messageId: frame.messageId })
      case 'messageUpdated':
        return this.emit('update', { type: 'edited', conversationId: this.id, messageId: frame.message.id, message: frame.message })
      case 'messageDeleted':
        return this.emit('update', { type: 'deleted', conversationId: this.id, messageId: frame.messageId })
      case 'reactionChanged':
        return this.emit('update', { type: 'reactions', conversationId: this.id, messageId: frame.messageId, reactions: frame.reactions })
      case 'presence':
        return this.emit('online', { userId: frame.userId, online: frame.online, lastSeenAt: frame.lastSeenAt })
      case 'conversationOpened':
        return this.emit('opened', frame.conversation)
    }
  }

  /** @internal */
  stop(): void {
    this.host.timers.clearTimeout(this.holeTimer)
    this.holeTimer = undefined
  }

  // A frame that fills the hole is usually already in flight: wait a moment before asking.
  private watchHole(): void {
    if (this.buffer?.hole() === undefined) {
      this.stop()
      return
    }
    if (this.holeTimer !== undefined) return
    this.holeTimer = this.host.timers.setTimeout(() => {
      this.holeTimer = undefined
      if (this.buffer?.hole() !== undefined) void this.sync()
    }, this.host.holeGraceMs)
  }
}
