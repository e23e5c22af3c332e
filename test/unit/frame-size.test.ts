import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  CLIENT_FRAMES,
  CLIENT_MESSAGE_ID_MAX_CHARS,
  MAX_BODY_CHARS,
  MAX_SERVER_FRAME_BYTES,
  REQUEST_ID_MAX_CHARS,
  SERVER_FRAMES,
  type ServerFrame,
} from '@trainer-chat/protocol'
import fc from 'fast-check'
import { createS3Storage } from '../../lambdas/adapters/s3-storage.ts'
import { MAX_REASON_CHARS } from '../../lambdas/core/admin/model.ts'
import { signMessage } from '../../lambdas/core/attachments.ts'
import { DEFAULT_REACTION_EMOJI } from '../../lambdas/config.ts'
import { ChatError } from '../../lambdas/core/errors.ts'
import { frameBytes, historyFrame } from '../../lambdas/core/chat.ts'
import type { Message, StoredMessage } from '../../lambdas/core/model.ts'
import { outgoingFrames, preview } from '../../lambdas/core/send-message.ts'
import { parseFrame } from '../../lambdas/websocket/toolkit.ts'

/**
 * #11 item 5: no server frame can exceed API Gateway's 128 KB PostToConnection limit. History
 * pages are trimmed to it by `historyFrame` (a property over any messages, of any size); every
 * other frame is bounded by the input rules, checked here at their worst: the characters that
 * cost the most JSON bytes (U+0001 is one character and six bytes, `\u0001`), at every maximum
 * length, with a download URL signed as in Lambda (a session token) for a 255-emoji file name.
 */

const conversationId = '6f1c8a0e-2b7d-4c1e-9f3a-0d2b4c6e8a10'
const uuid = '0d2b4c6e-8a10-4c1e-9f3a-6f1c8a0e2b7d'
const widest = (chars: number) => '\u0001'.repeat(chars)

const storage = createS3Storage({
  bucket: 'trainer-chat-attachments-123456789012-eu-central-1',
  region: 'eu-central-1',
  forcePathStyle: false,
  credentials: { accessKeyId: 'ASIA' + 'A'.repeat(16), secretAccessKey: 's'.repeat(40), sessionToken: 'T'.repeat(2048) },
  uploadUrlSeconds: 300,
  downloadUrlSeconds: 300,
})

async function heaviestMessage(seq = 1): Promise<Message> {
  const stored: StoredMessage = {
    id: uuid,
    conversationId,
    seq,
    senderId: uuid,
    body: widest(MAX_BODY_CHARS),
    clientMessageId: widest(CLIENT_MESSAGE_ID_MAX_CHARS),
    createdAt: '2026-12-01T10:00:00.000Z',
    readAt: '2026-12-01T10:00:00.000Z',
    removed: false,
    editedAt: '2026-12-01T10:00:00.000Z',
    deletedAt: null,
    // A reply's preview is at most 100 characters; a 1:1 conversation has two reactors per emoji at most.
    replyTo: { id: uuid, senderId: uuid, preview: widest(100) },
    reactions: DEFAULT_REACTION_EMOJI.map((emoji) => ({ emoji, userIds: [uuid, uuid] })),
    attachment: { id: uuid, fileName: '📎'.repeat(255), contentType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', size: 26_214_400 },
  }
  return signMessage(storage, stored)
}

describe('no server frame exceeds 128 KB', () => {
  test('the history frame is trimmed to the limit, keeping the end its walk started from, and always one message', () => {
    const limitBytes = 12_000
    const message = (seq: number, chars: number): Message => ({
      id: `m-${seq}`,
      conversationId,
      seq,
      senderId: 's',
      body: widest(chars),
      clientMessageId: `c-${seq}`,
      createdAt: '2026-12-01T10:00:00.000Z',
      readAt: null,
      removed: false,
      attachment: null,
      editedAt: null,
      deletedAt: null,
      replyTo: null,
      reactions: [],
    })
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 3000 }), { maxLength: 40 }),
        fc.boolean(),
        fc.constantFrom<'newest' | 'oldest'>('newest', 'oldest'),
        fc.option(fc.string({ maxLength: REQUEST_ID_MAX_CHARS }), { nil: undefined }),
        (lengths, hasMore, keep, requestId) => {
          const messages = lengths.map((chars, i) => message(i + 1, chars))
          const { frame, dropped } = historyFrame({ conversationId, messages, hasMore, requestId }, keep, limitBytes)
          const kept = frame.messages.map((m) => m.seq)
          assert.equal(kept.length + dropped, messages.length)
          if (messages.length > 0) assert.ok(kept.length >= 1, 'at least one message')
          // The kept messages are the contiguous end the walk started from, oldest first.
          const all = messages.map((m) => m.seq)
          assert.deepEqual(kept, keep === 'newest' ? all.slice(all.length - kept.length) : all.slice(0, kept.length))
          assert.equal(frame.hasMore, hasMore || dropped > 0)
          assert.equal(frame.requestId, requestId)
          // Only a lone message heavier than the limit itself may leave the frame over it.
          assert.ok(frameBytes(frame) <= limitBytes || kept.length === 1, `${frameBytes(frame)} bytes`)
          // Nothing was dropped that would have fitted.
          if (dropped > 0) {
            const next = keep === 'newest' ? messages[messages.length - kept.length - 1] : messages[kept.length]
            const withNext = keep === 'newest' ? [next as Message, ...frame.messages] : [...frame.messages, next as Message]
            assert.ok(frameBytes({ ...frame, messages: withNext }) > limitBytes)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  test('a page of 100 of the heaviest legal messages becomes a frame under the limit', async () => {
    const messages = await Promise.all(Array.from({ length: 100 }, (_, i) => heaviestMessage(i + 1)))
    for (const keep of ['newest', 'oldest'] as const) {
      const { frame } = historyFrame({ conversationId, messages, hasMore: false, requestId: widest(REQUEST_ID_MAX_CHARS) }, keep)
      assert.ok(frameBytes(frame) <= MAX_SERVER_FRAME_BYTES)
      assert.ok(frame.messages.length >= 1 && frame.hasMore)
    }
  })

  test('every other server frame, built with the largest values the rules allow, is far under the limit', async () => {
    const message = await heaviestMessage()
    const requestId = widest(REQUEST_ID_MAX_CHARS)
    // newMessage and newMessageNotification as the send use case builds them.
    const sent = outgoingFrames({
      caller: { connectionId: 'me', requestId },
      message,
      listeners: [
        { connectionId: 'other-joined', userId: 'trainer', joined: true },
        { connectionId: 'other-away', userId: 'trainer', joined: false },
      ],
      duplicate: false,
    }).map(({ frame }) => frame)
    assert.deepEqual(new Set(sent.map((frame) => frame.type)), new Set(['newMessage', 'newMessageNotification']))
    assert.ok([...preview(message.body)].length <= 100)

    const frames: ServerFrame[] = [
      ...sent,
      { type: 'userJoined', conversationId, userId: uuid },
      { type: 'userLeft', conversationId, userId: uuid },
      { type: 'userTyping', conversationId, userId: uuid, isTyping: true },
      { type: 'messageRead', conversationId, messageId: uuid, userId: uuid, readAt: message.createdAt },
      { type: 'conversationClosed', conversationId, reason: widest(MAX_REASON_CHARS) },
      { type: 'messageRemoved', conversationId, messageId: uuid },
      { type: 'ok', requestId },
      { type: 'pong' },
    ]
    for (const frame of frames) {
      assert.equal(SERVER_FRAMES[frame.type].safeParse(frame).success, true, frame.type)
      // A third of the limit: room for the fields being added to messages (replies, reactions).
      assert.ok(frameBytes(frame) <= MAX_SERVER_FRAME_BYTES / 3, `${frame.type}: ${frameBytes(frame)} bytes`)
    }
  })

  test('an error frame stays small whatever the refused frame held (thousands of bad keys, a 100 KB key, deep nesting)', () => {
    const nulValue = fc.constant('\u0000')
    const hostile = fc.oneof(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 30 }), nulValue, { minKeys: 1, maxKeys: 3000 }),
      fc.string({ minLength: 1, maxLength: 3 }).map((ch) => ({ [ch.repeat(20_000)]: '\u0000' })),
      // Nesting as JSON text, spliced in below: fast-check could not print so deep a value.
      fc.nat({ max: 40_000 }).map((depth) => ({ nested: `${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}` })),
    )
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(CLIENT_FRAMES)), fc.boolean(), hostile, (action, valid, extra) => {
        const { nested, ...keys } = extra as Record<string, unknown>
        const base = JSON.stringify({ ...(valid ? { conversationId, clientMessageId: 'c', isTyping: true, messageId: uuid } : {}), ...keys, action })
        const body = typeof nested === 'string' ? `${base.slice(0, -1)},"nested":${nested}}` : base
        // Only what the gateway would pass on: a bigger frame closes the connection (1009) instead.
        fc.pre(Buffer.byteLength(body) <= 128 * 1024)
        try {
          parseFrame(CLIENT_FRAMES[action as keyof typeof CLIENT_FRAMES], body)
        } catch (error) {
          assert.ok(error instanceof ChatError && error.code === 'bad_request')
          const frame = { type: 'error', code: error.code, message: error.message, requestId: widest(REQUEST_ID_MAX_CHARS), details: error.details }
          assert.ok(frameBytes(frame) <= 8 * 1024, `${frameBytes(frame)} bytes`)
        }
      }),
      { numRuns: 60 },
    )
  })
})
