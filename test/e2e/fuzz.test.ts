import fc from 'fast-check'
import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { CLIENT_ACTIONS, LeaveConversationFrame, MarkAsReadFrame, TypingFrame } from '@trainer-chat/protocol'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { captureOutput } from '../helpers/output.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * Property tests: arbitrary frames, sent by a real WebSocket client through the local stack into
 * every route. Whatever arrives, the process keeps running, the frame gets exactly one reply (or
 * none, where the protocol answers nothing: a successful typing, markAsRead or
 * leaveConversation without a requestId; with one it gets `ok`), nothing refused changes the
 * database or reaches anyone else, and fields the server owns are never taken from the client.
 */

let stack: TestStack
let pair: Pair
let fuzzer: TestClient
let trainer: TestClient
let messageId: string

before(async () => {
  stack = await startTestStack()
  pair = await createPair(stack.db, 'fuzz')
  trainer = await stack.connect(pair.trainer.email)
  await trainer.request({ action: 'joinConversation', conversationId: pair.conversationId })
  fuzzer = await stack.connect(pair.member.email)
  await fuzzer.request({ action: 'joinConversation', conversationId: pair.conversationId })
  messageId = (await trainer.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: 'seed', body: 'seed' })).message.id
  await fuzzer.nextOfType('newMessage')
})
after(() => stack.close())

/** Everything a frame could change, as one comparable value. */
async function databaseState(): Promise<string> {
  const { rows } = await sql<Record<string, unknown>>`
    SELECT
      (SELECT count(*) FROM messages)::int AS messages,
      (SELECT md5(coalesce(string_agg(concat_ws('|', id, conversation_id, seq, sender_id, body, client_message_id, read_at, hidden_at), ',' ORDER BY id), '')) FROM messages) AS message_rows,
      (SELECT md5(coalesce(string_agg(concat_ws('|', id, status, last_seq, updated_at), ',' ORDER BY id), '')) FROM conversations) AS conversation_rows,
      (SELECT md5(coalesce(string_agg(concat_ws('|', connection_id, user_id, expires_at, joined_conversation_ids, slot), ',' ORDER BY connection_id), '')) FROM connections) AS connection_rows,
      (SELECT md5(coalesce(string_agg(concat_ws('|', id, email, role, trainer_id, disabled_at, send_tokens, send_tokens_at, updated_at), ',' ORDER BY id), '')) FROM users) AS user_rows`.execute(stack.db)
  return JSON.stringify(rows[0])
}

/**
 * Sends `text` and returns every frame it caused to the sender. Handlers run concurrently, so:
 * a refused probe after it (its reply means the gateway has taken the frame), idle() (every
 * handler done, every reply written), and a second probe (its reply comes after all of them).
 */
async function framesCausedBy(text: string): Promise<TestClient['frames']> {
  fuzzer.frames.length = 0
  fuzzer.send(text)
  await fuzzer.request({ action: 'typing' })
  await stack.ws.idle()
  await fuzzer.request({ action: 'typing' })
  return fuzzer.frames.splice(0)
}

/** How many replies the protocol gives the sender: none for a successful typing, markAsRead or leave. */
function expectedReplies(text: string): 0 | 1 {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return 1
  }
  // The server refuses a NUL in any string value of a frame, fields its route ignores included:
  // PostgreSQL cannot store U+0000 (lambdas/core/errors.ts nulIssues). Such a frame gets its error.
  if (hasNulValue(json)) return 1
  const silentWhenValid = [TypingFrame, MarkAsReadFrame, LeaveConversationFrame].some((schema) => {
    const parsed = schema.safeParse(json)
    if (!parsed.success || parsed.data.conversationId !== pair.conversationId || parsed.data.requestId !== undefined) return false
    return !('messageId' in parsed.data) || parsed.data.messageId === messageId
  })
  return silentWhenValid ? 0 : 1
}

/** Whether a string anywhere in a parsed JSON value (not a key) holds U+0000. */
function hasNulValue(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000')
  if (value === null || typeof value !== 'object') return false
  return Object.values(value).some(hasNulValue)
}

// ---- generators --------------------------------------------------------------------------

const anyText = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 50 }))
const hugeNumber = fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -1, -0, 0.5, 1e-300)
const wrongType = fc.oneof(hugeNumber, fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }), anyText)
const idLike = (real: () => string) => fc.oneof(fc.constant(null).map(() => real()), fc.uuid(), anyText, wrongType)
const action = fc.oneof(fc.constantFrom(...CLIENT_ACTIONS), fc.constantFrom('ping', '$default', '$connect', '$disconnect', 'SendMessage', 'sendMessage ', '__proto__', 'constructor', 'toString', 'hasOwnProperty'), anyText, wrongType)

const structuredFrame = fc.record(
  {
    action,
    requestId: fc.oneof(fc.string({ maxLength: 80 }), wrongType),
    conversationId: idLike(() => pair.conversationId),
    clientMessageId: fc.oneof(fc.string({ maxLength: 80 }), fc.uuid(), wrongType),
    body: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 4100 }), wrongType),
    messageId: idLike(() => messageId),
    attachmentId: fc.oneof(fc.uuid(), wrongType),
    isTyping: fc.oneof(fc.boolean(), wrongType),
    limit: fc.oneof(fc.integer({ min: -5, max: 200 }), wrongType),
    afterSeq: fc.oneof(fc.integer({ min: -5, max: 1000 }), wrongType),
    // Fields the server owns, which a client must never be able to set.
    senderId: fc.oneof(fc.uuid(), wrongType),
    seq: fc.oneof(fc.integer(), wrongType),
    createdAt: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), wrongType),
    role: fc.constantFrom('admin', 'trainer', 'user'),
  },
  { requiredKeys: [] },
)

const real = (id: () => string) => fc.constant(null).map(() => id())

/** A valid frame for each route, then perhaps one field swapped for a wrong value: the deeper paths. */
const nearlyValidFrame = fc
  .tuple(
    fc.oneof(
      fc.record({ action: fc.constant('sendMessage'), conversationId: real(() => pair.conversationId), clientMessageId: fc.uuid(), body: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }) }),
      fc.record(
        { action: fc.constant('joinConversation'), conversationId: real(() => pair.conversationId), limit: fc.integer({ min: 1, max: 100 }), afterSeq: fc.nat(50) },
        { requiredKeys: ['action', 'conversationId'] },
      ),
      fc.record({ action: fc.constant('typing'), conversationId: real(() => pair.conversationId), isTyping: fc.boolean() }),
      fc.record({ action: fc.constant('markAsRead'), conversationId: real(() => pair.conversationId), messageId: real(() => messageId) }),
      fc.record({ action: fc.constant('leaveConversation'), conversationId: real(() => pair.conversationId) }),
    ),
    fc.option(fc.tuple(fc.constantFrom('action', 'conversationId', 'clientMessageId', 'body', 'messageId', 'limit', 'afterSeq', 'isTyping', 'requestId'), wrongType)),
  )
  .map(([frame, swap]) => (swap ? { ...frame, [swap[0]]: swap[1] } : frame))

/** Prototype-pollution keys can only be written as JSON text: an object literal would set the prototype instead. */
const pollution = fc.subarray(['"__proto__":{"polluted":true,"role":"admin"}', '"constructor":{"prototype":{"polluted":true}}', '"__proto__":null', '"prototype":{"polluted":true}'])

const frameText = fc.oneof(
  { weight: 1, arbitrary: anyText },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  {
    weight: 5,
    arbitrary: fc.tuple(fc.oneof(structuredFrame, nearlyValidFrame), pollution).map(([frame, keys]) => {
      const json = JSON.stringify(frame)
      return keys.length === 0 ? json : `{${keys.join(',')}${json === '{}' ? '' : `,${json.slice(1, -1)}`}}`
    }),
  },
)

// ---- properties --------------------------------------------------------------------------

describe('arbitrary frames into every route', () => {
  test('one reply per frame (none where the protocol sends none); a refusal changes nothing and reaches no one', async (t) => {
    const outcomes = new Map<string, number>()
    const { output } = await captureOutput(
      () =>
        fc.assert(
          fc.asyncProperty(frameText, async (text) => {
            const before = await databaseState()
            trainer.frames.length = 0

            const replies = await framesCausedBy(text)

            assert.equal(replies.length, expectedReplies(text), `replies to ${text.slice(0, 200)}: ${JSON.stringify(replies).slice(0, 300)}`)
            const reply = replies[0]
            const outcome = reply ? (reply.type === 'error' ? `error ${reply.code}` : reply.type) : 'no reply'
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
            if (reply?.type === 'error') {
              assert.notEqual(reply.code, 'internal', `an internal error for ${text.slice(0, 200)}`)
              assert.equal(await databaseState(), before, `a refused frame changed the database: ${text.slice(0, 200)}`)
              assert.deepEqual(await trainer.quiet(0), [], 'a refused frame reached the other participant')
            }
            assert.equal(fuzzer.closeCode, undefined, 'the connection stays open')
          }),
          // FUZZ_SEED=<seed> replays a failure fast-check reported.
          { numRuns: 150, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
        ),
      { hideLogLines: true },
    )

    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`)
    assert.doesNotMatch(output, /unhandled error/, 'no frame made a handler fail')
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched')
    const still = await fuzzer.request({ action: 'joinConversation', conversationId: pair.conversationId, limit: 1 })
    assert.equal(still.type, 'conversationHistory', 'the stack still answers')
  })

  test('fields the server owns (senderId, seq, createdAt, role, id, readAt, removed) are ignored when a client sends them', async () => {
    const memberRole = async () => (await stack.db.selectFrom('users').where('id', '=', pair.member.id).select('role').executeTakeFirstOrThrow()).role
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          senderId: fc.oneof(fc.uuid(), fc.constant(pair.trainer.id)),
          seq: fc.integer({ min: -10, max: 1_000_000 }),
          createdAt: fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
          role: fc.constantFrom('admin', 'trainer'),
          id: fc.uuid(),
          readAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          removed: fc.boolean(),
          conversationId: fc.constant(null).map(() => pair.conversationId),
        }),
        async (owned) => {
          const { last_seq: lastSeq } = await stack.db.selectFrom('conversations').where('id', '=', pair.conversationId).select('last_seq').executeTakeFirstOrThrow()
          const clientMessageId = randomUUID()
          const sentAt = Date.now()

          const ack = await fuzzer.request({ action: 'sendMessage', ...owned, clientMessageId, body: 'owned?' })

          assert.equal(ack.type, 'newMessage')
          assert.equal(ack.message.senderId, pair.member.id)
          assert.equal(ack.message.seq, lastSeq + 1)
          assert.notEqual(ack.message.id, owned.id)
          assert.equal(ack.message.readAt, null)
          assert.equal(ack.message.removed, false)
          assert.ok(Math.abs(Date.parse(ack.message.createdAt) - sentAt) < 60_000, 'createdAt is the server’s clock')
          const row = await stack.db.selectFrom('messages').where('id', '=', ack.message.id).selectAll().executeTakeFirstOrThrow()
          assert.equal(row.sender_id, pair.member.id)
          assert.equal(row.seq, lastSeq + 1)
          assert.equal(await memberRole(), 'user')
        },
      ),
      { numRuns: 30 },
    )
  })
})
