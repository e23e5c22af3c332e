import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Listener, Message } from '../../lambdas/core/model.ts'
import { outgoingFrames } from '../../lambdas/core/send-message.ts'

/** Who hears what about a stored message: a pure function of the listeners and the message. */

const message: Message = {
  id: 'm-1',
  conversationId: 'conv-1',
  seq: 3,
  senderId: 'member',
  body: 'hello',
  clientMessageId: 'c-1',
  createdAt: '2026-12-01T10:00:00.000Z',
  readAt: null,
  removed: false,
  attachment: null,
  editedAt: null,
  deletedAt: null,
  replyTo: null,
  reactions: [],
}
const listener = (connectionId: string, userId: string, joined: boolean): Listener => ({ connectionId, userId, joined })
const caller = { connectionId: 'me', requestId: 'r-1' }

describe('outgoingFrames', () => {
  test('the sender’s connection gets the acknowledgement first, with its requestId', () => {
    const [ack] = outgoingFrames({ caller, message, listeners: [], duplicate: false })
    assert.deepEqual(ack, { connectionId: 'me', frame: { type: 'newMessage', message, requestId: 'r-1' } })
  })

  test('joined connections of both participants get newMessage; the recipient’s others a notification; the sender’s others nothing', () => {
    const frames = outgoingFrames({
      caller,
      message,
      duplicate: false,
      listeners: [
        listener('me', 'member', true),
        listener('member-tablet', 'member', true),
        listener('member-watch', 'member', false),
        listener('trainer-joined', 'trainer', true),
        listener('trainer-elsewhere', 'trainer', false),
      ],
    })
    assert.deepEqual(
      frames.map((o) => [o.connectionId, o.frame.type]),
      [
        ['me', 'newMessage'],
        ['member-tablet', 'newMessage'],
        ['trainer-joined', 'newMessage'],
        ['trainer-elsewhere', 'newMessageNotification'],
      ],
    )
    assert.deepEqual(frames[3]?.frame, {
      type: 'newMessageNotification',
      conversationId: 'conv-1',
      messageId: 'm-1',
      senderId: 'member',
      preview: 'hello',
    })
  })

  test('a retried clientMessageId answers the sender alone', () => {
    const frames = outgoingFrames({ caller, message, duplicate: true, listeners: [listener('trainer-joined', 'trainer', true)] })
    assert.deepEqual(frames.map((o) => o.connectionId), ['me'])
  })
})
