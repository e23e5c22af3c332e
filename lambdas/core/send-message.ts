import type { SendMessage, ServerFrame } from '@trainer-chat/protocol'
import { MAX_BODY_CHARS } from '@trainer-chat/protocol/server'
import { assertAttachmentUsable, describeAttachment, inspectUpload, signMessage } from './attachments.ts'
import { assertAllowed, deliver, echo, type Caller, type ChatPorts } from './chat.ts'
import { ChatError } from './errors.ts'
import type { Listener, Message } from './model.ts'
import type { AttachmentStorage, Outgoing } from './ports.ts'
import { notifyOffline, type PushPorts } from './push.ts'

export interface SendMessagePorts extends ChatPorts {
  /** Checks uploads (HeadObject) and signs the download URL of the message's attachment. */
  storage: AttachmentStorage
  /** Pushes to an offline recipient's devices (a notifier that sends nothing when push is off). */
  push: PushPorts
}

const PREVIEW_CHARS = 100

/**
 * sendMessage:
 * 1. validate the body (optional with an attachment); ask storage what was uploaded for the attachment (HeadObject);
 * 2. one statement authorizes, checks and claims the attachment, dedupes by clientMessageId,
 *    assigns seq, stores, and returns listeners and, for an offline recipient, what a push needs;
 * 3. a retry answers the sender alone with the original message;
 * 4. otherwise the frames of `outgoingFrames` go out: the acknowledgement, `newMessage` to joined
 *    connections, `newMessageNotification` to the recipient's others;
 * 5. only then, an offline recipient's devices get a push (a failure there is logged, never thrown).
 */
export async function sendMessage(ports: SendMessagePorts, caller: Caller, input: Omit<SendMessage, 'action' | 'requestId'>): Promise<Message> {
  const { attachmentId } = input
  const body = normalizeBody(input.body, { allowEmpty: attachmentId !== undefined })
  const object = attachmentId === undefined ? undefined : await inspectUpload(ports.storage, input.conversationId, attachmentId)

  const result = await ports.store.sendMessage({
    connectionId: caller.connectionId,
    conversationId: input.conversationId,
    clientMessageId: input.clientMessageId,
    body,
    ...(attachmentId === undefined ? {} : { attachment: { id: attachmentId, object: object ?? null } }),
    ...(input.replyToId === undefined ? {} : { replyToId: input.replyToId }),
  })
  assertAllowed(result, 'write')
  if (result.retryAfterMs !== undefined) {
    ports.metrics.count('sendsRateLimited')
    throw new ChatError('rate_limited', 'You are sending messages too fast; retry the same clientMessageId later', {
      retryAfterMs: result.retryAfterMs,
    })
  }
  if (!result.message) {
    // Allowed, not rate limited, yet nothing stored: either the attachment was refused, or an
    // admin closed the conversation between the statement's access check and its seq bump (the
    // bump waits for the close's row lock, then sees status 'closed' and updates nothing), or the
    // message it replies to is not in this conversation.
    if (result.replyFound === false) {
      throw new ChatError('not_found', 'replyToId names no message of this conversation', { field: 'replyToId' })
    }
    assertAttachmentUsable(result.attachmentVerdict)
    throw new ChatError('conversation_closed', 'This conversation is closed; it is read-only')
  }
  if (result.message.conversationId !== input.conversationId) {
    throw new ChatError('bad_request', 'clientMessageId was already used for another conversation', { field: 'clientMessageId' })
  }

  if (!result.duplicate) ports.metrics.count('messagesStored')
  // Only an attachment's download URL is signed: a text message goes out as it was stored.
  const message = result.message.attachment ? await signMessage(ports.storage, result.message) : { ...result.message, attachment: null }
  // Stored: from here on the acknowledgement is the answer, and no error may follow it.
  caller.answered?.()
  await deliver(ports, outgoingFrames({ caller, message, listeners: result.listeners, duplicate: result.duplicate }), caller)
  if (result.push && !result.duplicate) {
    const failures = await notifyOffline(ports.push, result.message, result.push, preview(message.body), ports.log)
    if (failures > 0) ports.metrics.count('pushFailures', failures)
  }
  return message
}

/**
 * Who hears what about a stored message. The sending connection always gets `newMessage` with its
 * requestId (the acknowledgement); a retry gets only that. Otherwise every other joined
 * connection of both participants gets `newMessage`, and the recipient's connections that have
 * not joined the conversation get `newMessageNotification`.
 */
export function outgoingFrames(sent: { caller: Caller; message: Message; listeners: readonly Listener[]; duplicate: boolean }): Outgoing<ServerFrame>[] {
  const { caller, message } = sent
  const ack: Outgoing<ServerFrame> = { connectionId: caller.connectionId, frame: { type: 'newMessage', message, ...echo(caller) } }
  if (sent.duplicate) return [ack]

  const newMessage: ServerFrame = { type: 'newMessage', message }
  const notification: ServerFrame = {
    type: 'newMessageNotification',
    conversationId: message.conversationId,
    messageId: message.id,
    senderId: message.senderId,
    preview: preview(message.body) || describeAttachment(message.attachment),
  }
  const others = sent.listeners.filter((listener) => listener.connectionId !== caller.connectionId)
  return [
    ack,
    ...others.flatMap((listener): Outgoing<ServerFrame>[] => {
      if (listener.joined) return [{ connectionId: listener.connectionId, frame: newMessage }]
      if (listener.userId !== message.senderId) return [{ connectionId: listener.connectionId, frame: notification }]
      return []
    }),
  ]
}

/** Trims a message body and enforces 1..MAX_BODY_CHARS characters (0.. when the message carries an attachment). */
export function normalizeBody(body: string | undefined, options: { allowEmpty?: boolean } = {}): string {
  const trimmed = (body ?? '').trim()
  if (trimmed.length === 0) {
    if (options.allowEmpty) return ''
    throw new ChatError('bad_request', 'body must not be empty', { field: 'body' })
  }
  // Count code points, not UTF-16 units, so an emoji counts as one character.
  const length = [...trimmed].length
  if (length > MAX_BODY_CHARS) {
    throw new ChatError('too_large', `body is ${length} characters; the limit is ${MAX_BODY_CHARS}`, {
      field: 'body',
      limit: MAX_BODY_CHARS,
    })
  }
  return trimmed
}

export function preview(body: string): string {
  const chars = [...body]
  return chars.length <= PREVIEW_CHARS ? body : `${chars.slice(0, PREVIEW_CHARS - 1).join('')}…`
}
