import type { ServerFrame } from '@trainer-chat/protocol'
import { signMessage } from './attachments.ts'
import { assertAllowed, deliver, echo, type Caller, type ChatPorts } from './chat.ts'
import { ChatError } from './errors.ts'
import type { Listener } from './model.ts'
import type { AttachmentStorage, MessageVerdict, Outgoing } from './ports.ts'
import { normalizeBody } from './send-message.ts'

/**
 * The actions on a stored message: editMessage, deleteMessage, react. Each asks the store once
 * (one statement that authorizes, checks the message and acts), turns a refusal into a ChatError,
 * then answers the caller with the frame that says what now holds (carrying its requestId) and
 * sends the same frame to every other joined connection of both participants, only when
 * something changed.
 */

export interface EditMessagePorts extends ChatPorts {
  /** Signs the download URL of the edited message's attachment. */
  storage: AttachmentStorage
  /** How long after sending the sender may edit (config MESSAGE_EDIT_WINDOW_SECONDS). */
  editWindowSeconds: number
}

export interface ReactPorts extends ChatPorts {
  /** The emoji a reaction may use (config REACTION_EMOJI). */
  reactionEmoji: readonly string[]
}

interface MessageInput {
  conversationId: string
  messageId: string
}

export async function editMessage(ports: EditMessagePorts, caller: Caller, input: MessageInput & { body: string }): Promise<void> {
  const body = normalizeBody(input.body)
  const result = await ports.store.editMessage({ connectionId: caller.connectionId, ...input, body, editWindowSeconds: ports.editWindowSeconds })
  assertAllowed(result, 'write')
  assertMessage(result.messageVerdict, 'edit', ports.editWindowSeconds)
  // Allowed yet not edited: a delete (or a moderator) got to the row first, between the check and the lock.
  if (!result.message) throw gone('edit')
  const message = await signMessage(ports.storage, result.message)
  caller.answered?.()
  const frame: ServerFrame = { type: 'messageUpdated', conversationId: input.conversationId, message }
  await deliver(ports, answerAndFanOut(caller, frame, result.listeners, true), caller)
}

export async function deleteMessage(ports: ChatPorts, caller: Caller, input: MessageInput): Promise<void> {
  const result = await ports.store.deleteMessage({ connectionId: caller.connectionId, ...input })
  assertAllowed(result, 'write')
  assertMessage(result.messageVerdict, 'delete')
  caller.answered?.()
  const frame: ServerFrame = { type: 'messageDeleted', conversationId: input.conversationId, messageId: input.messageId }
  await deliver(ports, answerAndFanOut(caller, frame, result.listeners, result.deleted), caller)
}

export async function react(ports: ReactPorts, caller: Caller, input: MessageInput & { emoji: string; on: boolean }): Promise<void> {
  if (!ports.reactionEmoji.includes(input.emoji)) {
    throw new ChatError('bad_request', `emoji must be one of ${ports.reactionEmoji.join(' ')}`, { field: 'emoji', allowed: [...ports.reactionEmoji] })
  }
  const result = await ports.store.react({ connectionId: caller.connectionId, ...input })
  assertAllowed(result, 'write')
  assertMessage(result.messageVerdict, 'react to')
  caller.answered?.()
  const frame: ServerFrame = {
    type: 'reactionChanged',
    conversationId: input.conversationId,
    messageId: input.messageId,
    reactions: result.reactions,
  }
  await deliver(ports, answerAndFanOut(caller, frame, result.listeners, result.changed), caller)
}

/** Maps how the message stands to the refusal the caller sees. */
function assertMessage(verdict: MessageVerdict, action: 'edit' | 'delete' | 'react to', editWindowSeconds?: number): void {
  switch (verdict) {
    case 'ok':
      return
    case 'not_found':
      throw new ChatError('not_found', 'Message not found in this conversation')
    case 'not_sender':
      throw new ChatError('forbidden', `Only its sender may ${action} this message`)
    case 'gone':
      throw gone(action)
    case 'window_passed':
      throw new ChatError('forbidden', `A message can be edited only within ${editWindowSeconds} seconds of sending`, {
        reason: 'edit_window_passed',
        editWindowSeconds,
      })
  }
}

function gone(action: string): ChatError {
  return new ChatError('conflict', `This message was deleted or removed; you cannot ${action} it`)
}

/**
 * The caller always gets the frame, with its requestId (the answer); when something changed,
 * every other joined connection of both participants gets it too, without one.
 */
function answerAndFanOut(caller: Caller, frame: ServerFrame, listeners: readonly Listener[], changed: boolean): Outgoing<ServerFrame>[] {
  const answer: Outgoing<ServerFrame> = { connectionId: caller.connectionId, frame: { ...frame, ...echo(caller) } as ServerFrame }
  if (!changed) return [answer]
  const others = listeners.filter((listener) => listener.connectionId !== caller.connectionId && listener.joined)
  return [answer, ...others.map((listener) => ({ connectionId: listener.connectionId, frame }))]
}
