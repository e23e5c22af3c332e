import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'
import {
  backoffDelay,
  ChatClient,
  ChatClientError,
  keyValueStorage,
  memoryStorage,
  OrderingBuffer,
  type ChatClientOptions,
  type ConnectionState,
  type Message,
} from '../../client/src/index.ts'
import { FakeSocket, FakeWebSocket, ManualClock, settle } from './fakes.ts'

/** The SDK's own logic, with a fake socket whose server side is the test and a clock moved by hand. */

const CONVERSATION = '00000000-0000-4000-8000-000000000001'

const message = (seq: number, extra: Partial<Message> = {}): Message => ({
  id: `m-${seq}`,
  conversationId: CONVERSATION,
  seq,
  senderId: 'u1',
  body: `body ${seq}`,
  clientMessageId: `c-${seq}`,
  createdAt: new Date(0).toISOString(),
  readAt: null,
  removed: false,
  attachment: null,
  editedAt: null,
  deletedAt: null,
  replyTo: null,
  reactions: [],
  ...extra,
})

let clock: ManualClock
beforeEach(() => {
  FakeSocket.reset()
  clock = new ManualClock()
})

function client(options: Partial<ChatClientOptions> = {}) {
  const states: ConnectionState[] = []
  const chat = new ChatClient({
    url: 'ws://chat.test/local',
    token: () => 'token-1',
    WebSocket: FakeWebSocket,
    timers: clock,
    random: () => 0.5,
    backoff: { baseMs: 1000, maxMs: 8000 },
    holeGraceMs: 500,
    requestTimeoutMs: 5000,
    pingIntervalMs: 60_000,
    ...options,
  })
  chat.on('state', (state) => states.push(state))
  return { chat, states }
}

/** Connects and answers the conversation's first join with `messages`. */
async function connected(chat: ChatClient, history: Message[] = []): Promise<FakeSocket> {
  const connecting = chat.connect()
  await settle()
  const socket = FakeSocket.last
  socket.accept()
  await connecting
  await settle()
  for (const join of socket.frames('joinConversation')) {
    socket.reply({ type: 'conversationHistory', conversationId: CONVERSATION, messages: history, hasMore: false, requestId: join.requestId })
  }
  await settle()
  return socket
}

describe('the ordering buffer', () => {
  test('applies messages in seq order, holding one that arrives ahead of a hole', () => {
    const buffer = new OrderingBuffer<Message>(0)
    assert.deepEqual(buffer.accept(message(2)), [])
    assert.equal(buffer.hole(), 0)
    assert.deepEqual(buffer.accept(message(1)).map((m) => m.seq), [1, 2])
    assert.equal(buffer.hole(), undefined)
  })

  test('drops a message already applied or already held', () => {
    const buffer = new OrderingBuffer<Message>(0)
    buffer.accept(message(1))
    buffer.accept(message(3))
    assert.deepEqual(buffer.accept(message(1)), [])
    assert.deepEqual(buffer.accept(message(3)), [])
    assert.equal(buffer.heldCount, 1)
    assert.deepEqual(buffer.accept(message(2)).map((m) => m.seq), [2, 3])
  })

  test('starts after the seq the app already has', () => {
    const buffer = new OrderingBuffer<Message>(41)
    assert.deepEqual(buffer.accept(message(41)), [])
    assert.deepEqual(buffer.accept(message(42)).map((m) => m.seq), [42])
    assert.equal(buffer.lastApplied, 42)
  })
})

describe('the outbox', () => {
  test('send writes the message to storage, with its clientMessageId, before touching the network', async () => {
    const storage = memoryStorage()
    const { chat } = client({ storage })

    void chat.conversation(CONVERSATION).send('hello').catch(() => {})
    await settle()

    assert.equal(FakeSocket.instances.length, 0, 'no socket yet')
    const [entry] = [...storage.entries.values()]
    assert.equal(entry?.body, 'hello')
    assert.match(entry?.clientMessageId ?? '', /^[0-9a-f-]{36}$/)
    await chat.close()
  })

  test('a message left in storage by an earlier client goes out once, with its clientMessageId, and leaves storage', async () => {
    const storage = memoryStorage()
    await storage.save({ clientMessageId: 'left-over', conversationId: CONVERSATION, body: 'from before the restart', createdAt: 1 })
    const { chat } = client({ storage })
    const sent: Message[] = []
    chat.on('sent', (m) => sent.push(m))

    const socket = await connected(chat)
    const [frame] = socket.frames('sendMessage')
    assert.equal(frame?.clientMessageId, 'left-over')
    socket.reply({ type: 'newMessage', message: message(1, { clientMessageId: 'left-over' }), requestId: frame?.requestId })
    await settle()

    assert.deepEqual(sent.map((m) => m.clientMessageId), ['left-over'])
    assert.equal(storage.entries.size, 0)
    assert.equal(socket.frames('sendMessage').length, 1)
    await chat.close()
  })

  test('rate_limited: the same clientMessageId again after retryAfterMs, not before; resolves with the stored message', async () => {
    const { chat } = client()
    const socket = await connected(chat)
    const sending = chat.conversation(CONVERSATION).send('fast')
    await settle()
    const [first] = socket.frames('sendMessage')

    socket.reply({ type: 'error', code: 'rate_limited', message: 'slow down', requestId: first?.requestId, details: { retryAfterMs: 1000 } })
    await clock.advance(999)
    assert.equal(socket.frames('sendMessage').length, 1, 'not before retryAfterMs')
    await clock.advance(100)
    const [, second] = socket.frames('sendMessage')
    assert.equal(second?.clientMessageId, first?.clientMessageId)
    socket.reply({ type: 'newMessage', message: message(7, { clientMessageId: first?.clientMessageId }), requestId: second?.requestId })

    assert.equal((await sending).seq, 7)
    await chat.close()
  })

  test('internal: retried after an exponential, fully jittered delay', async () => {
    const { chat } = client({ random: () => 0.5 })
    const socket = await connected(chat)
    void chat.conversation(CONVERSATION).send('x').catch(() => {})
    await settle()

    socket.reply({ type: 'error', code: 'internal', message: 'oops', requestId: socket.frames('sendMessage')[0]?.requestId })
    await clock.advance(499)
    assert.equal(socket.frames('sendMessage').length, 1)
    await clock.advance(1) // 0.5 × 1000 × 2^0
    assert.equal(socket.frames('sendMessage').length, 2)
    socket.reply({ type: 'error', code: 'unavailable', message: 'later', requestId: socket.frames('sendMessage')[1]?.requestId })
    await clock.advance(999)
    assert.equal(socket.frames('sendMessage').length, 2)
    await clock.advance(1) // 0.5 × 1000 × 2^1
    assert.equal(socket.frames('sendMessage').length, 3)
    await chat.close()
  })

  test('a final refusal rejects with its code and leaves nothing in the outbox', async () => {
    const storage = memoryStorage()
    const { chat } = client({ storage })
    const socket = await connected(chat)
    const sending = chat.conversation(CONVERSATION).send('nope')
    await settle()

    socket.reply({ type: 'error', code: 'conversation_closed', message: 'closed', requestId: socket.frames('sendMessage')[0]?.requestId })

    await assert.rejects(sending, (error: unknown) => error instanceof ChatClientError && error.code === 'conversation_closed')
    assert.equal(storage.entries.size, 0)
    await chat.close()
  })

  test('a send whose connection died goes out again on the next one, same clientMessageId, and resolves once', async () => {
    const { chat } = client()
    const first = await connected(chat)
    const sending = chat.conversation(CONVERSATION).send('survives')
    await settle()
    const clientMessageId = first.frames('sendMessage')[0]?.clientMessageId

    first.drop()
    await clock.advance(1000)
    const second = FakeSocket.last
    assert.notEqual(second, first)
    second.accept()
    await settle()
    const [retry] = second.frames('sendMessage')
    assert.equal(retry?.clientMessageId, clientMessageId)
    second.reply({ type: 'newMessage', message: message(3, { clientMessageId }), requestId: retry?.requestId })

    assert.equal((await sending).clientMessageId, clientMessageId)
    await chat.close()
  })

  test('one message in flight per conversation, in the order written', async () => {
    const { chat } = client()
    const socket = await connected(chat)
    const conversation = chat.conversation(CONVERSATION)
    const sends = [conversation.send('one'), conversation.send('two')]
    await settle()
    assert.deepEqual(socket.frames('sendMessage').map((f) => f.body), ['one'])
    const [one] = socket.frames('sendMessage')
    socket.reply({ type: 'newMessage', message: message(1, { clientMessageId: one?.clientMessageId }), requestId: one?.requestId })
    await settle()
    assert.deepEqual(socket.frames('sendMessage').map((f) => f.body), ['one', 'two'])
    const [, two] = socket.frames('sendMessage')
    socket.reply({ type: 'newMessage', message: message(2, { clientMessageId: two?.clientMessageId }), requestId: two?.requestId })
    assert.deepEqual((await Promise.all(sends)).map((m) => m.seq), [1, 2])
    await chat.close()
  })

  test('keyValueStorage keeps every entry when saves race, and forgets removed ones', async () => {
    const data = new Map<string, string>()
    const store = { getItem: async (k: string) => data.get(k) ?? null, setItem: async (k: string, v: string) => void data.set(k, v), removeItem: async (k: string) => void data.delete(k) }
    const storage = keyValueStorage(store)

    await Promise.all(Array.from({ length: 10 }, (_, i) => storage.save({ clientMessageId: `c${i}`, conversationId: CONVERSATION, body: `b${i}`, createdAt: i })))
    await storage.remove('c3')

    const loaded = await keyValueStorage(store).load()
    assert.deepEqual(loaded.map((e) => e.clientMessageId).sort(), ['c0', 'c1', 'c2', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9'])
  })
})

describe('conversations', () => {
  test('a hole is held, then filled by joinConversation afterSeq, paging until hasMore is false', async () => {
    const { chat } = client()
    const delivered: number[] = []
    chat.conversation(CONVERSATION, { afterSeq: 0 }).on('message', (m) => delivered.push(m.seq))
    const socket = await connected(chat, [message(1), message(2)])

    socket.reply({ type: 'newMessage', message: message(5) })
    await settle()
    assert.deepEqual(delivered, [1, 2], 'seq 5 waits behind the hole')
    await clock.advance(500)
    const catchUp = socket.frames('joinConversation')[1]
    assert.equal(catchUp?.afterSeq, 2)
    socket.reply({ type: 'conversationHistory', conversationId: CONVERSATION, messages: [message(3)], hasMore: true, requestId: catchUp?.requestId })
    await settle()
    const nextPage = socket.frames('joinConversation')[2]
    assert.equal(nextPage?.afterSeq, 3)
    socket.reply({ type: 'conversationHistory', conversationId: CONVERSATION, messages: [message(4), message(5)], hasMore: false, requestId: nextPage?.requestId })
    await settle()
    socket.reply({ type: 'newMessage', message: message(4) })
    await settle()

    assert.deepEqual(delivered, [1, 2, 3, 4, 5], 'each exactly once, in order')
    assert.equal(socket.frames('joinConversation').length, 3)
    await chat.close()
  })

  test('after a reconnect, each conversation catches up from the last seq it delivered', async () => {
    const { chat } = client()
    const delivered: number[] = []
    chat.conversation(CONVERSATION).on('message', (m) => delivered.push(m.seq))
    const first = await connected(chat, [message(8), message(9)])

    first.drop()
    await clock.advance(1000)
    const second = FakeSocket.last
    second.accept()
    await settle()
    const [join] = second.frames('joinConversation')
    assert.equal(join?.afterSeq, 9)
    second.reply({ type: 'conversationHistory', conversationId: CONVERSATION, messages: [message(10)], hasMore: false, requestId: join?.requestId })
    await settle()

    assert.deepEqual(delivered, [8, 9, 10])
    await chat.close()
  })
})

describe('connections', () => {
  test('a refused token: one fresh token is asked for, then the client gives up', async () => {
    let tokens = 0
    const { chat, states } = client({ token: () => `token-${++tokens}` })
    const errors: ChatClientError[] = []
    chat.on('error', (e) => errors.push(e))
    const connecting = chat.connect()
    await settle()

    FakeSocket.last.refuse('Unexpected server response: 401')
    await settle()
    assert.equal(tokens, 2, 'a fresh token for the second attempt, at once')
    assert.match(FakeSocket.last.url, /token=token-2/)
    FakeSocket.last.refuse('Unexpected server response: 401')

    await assert.rejects(connecting)
    assert.equal(tokens, 2)
    assert.equal(states.at(-1), 'closed')
    assert.equal(errors[0]?.code, 'unauthorized')
  })

  test('a connection that expires with unauthorized is replaced with a fresh token, and the send goes through', async () => {
    let tokens = 0
    const { chat } = client({ token: () => `token-${++tokens}` })
    const first = await connected(chat)
    const sending = chat.conversation(CONVERSATION).send('late')
    await settle()

    first.reply({ type: 'error', code: 'unauthorized', message: 'expired', requestId: first.frames('sendMessage')[0]?.requestId })
    await settle()
    const second = FakeSocket.last
    assert.notEqual(second, first)
    assert.match(second.url, /token=token-2/)
    second.accept()
    await settle()
    const [retry] = second.frames('sendMessage')
    second.reply({ type: 'newMessage', message: message(1, { clientMessageId: retry?.clientMessageId }), requestId: retry?.requestId })

    assert.equal((await sending).seq, 1)
    await chat.close()
  })

  test('reconnect delays grow exponentially with full jitter', async () => {
    const { chat, states } = client({ random: () => 0.999 })
    void chat.connect().catch(() => {})
    await settle()
    FakeSocket.last.refuse()
    await settle()
    assert.equal(states.at(-1), 'offline')
    await clock.advance(998)
    assert.equal(FakeSocket.instances.length, 1)
    await clock.advance(1)
    assert.equal(FakeSocket.instances.length, 2)
    FakeSocket.last.refuse()
    await clock.advance(1997)
    assert.equal(FakeSocket.instances.length, 2)
    await clock.advance(1)
    assert.equal(FakeSocket.instances.length, 3, 'floor(0.999 × 2000)')
    assert.equal(backoffDelay(10, { baseMs: 1000, maxMs: 8000 }, () => 0.5), 4000, 'capped')
    assert.equal(backoffDelay(3, { baseMs: 1000, maxMs: 8000 }, () => 0), 0, 'full jitter reaches zero')
    await chat.close()
  })

  test('pings every interval; a ping unanswered for pongTimeoutMs means the connection is dead and is replaced', async () => {
    const { chat } = client({ pingIntervalMs: 10_000, pongTimeoutMs: 15_000 })
    const first = await connected(chat)

    await clock.advance(10_000)
    assert.equal(first.frames('ping').length, 1)
    first.reply({ type: 'pong' })
    await clock.advance(10_000)
    assert.equal(first.frames('ping').length, 2, 'unanswered from here on')
    await clock.advance(10_000)
    assert.equal(first.readyState, 1, 'a late pong is still allowed for')
    assert.equal(first.frames('ping').length, 3)
    await clock.advance(10_000)

    assert.equal(first.readyState, 3, 'closed for want of a pong')
    await clock.advance(1000)
    assert.equal(FakeSocket.instances.length, 2)
    await chat.close()
  })

  test('a connection that stops answering requests is dropped and the send goes out on a new one', async () => {
    const { chat } = client({ requestTimeoutMs: 5000 })
    chat.conversation(CONVERSATION)
    const first = await connected(chat)
    const sending = chat.conversation(CONVERSATION).send('anyone?')
    await settle()

    await clock.advance(5000) // no reply: retried after a backoff on the same connection
    await clock.advance(1000)
    assert.equal(first.frames('sendMessage').length, 2)
    await clock.advance(5000) // no reply again: the connection is dead

    assert.equal(first.readyState, 3)
    await clock.advance(1000)
    const second = FakeSocket.last
    assert.notEqual(second, first)
    second.accept()
    await settle()
    const [retry] = second.frames('sendMessage')
    second.reply({ type: 'newMessage', message: message(1, { clientMessageId: retry?.clientMessageId }), requestId: retry?.requestId })
    assert.equal((await sending).seq, 1)
    await chat.close()
  })

  test('before the maximum duration: a new connection catches up first, only then the old one closes', async () => {
    const { chat } = client({ maxConnectionMs: 60_000 })
    chat.conversation(CONVERSATION)
    const old = await connected(chat, [message(1)])

    await clock.advance(60_000)
    const next = FakeSocket.last
    assert.notEqual(next, old)
    next.accept()
    await settle()
    const [join] = next.frames('joinConversation')
    assert.equal(join?.afterSeq, 1)
    assert.equal(old.readyState, 1, 'the old connection stays until the new one caught up')
    next.reply({ type: 'conversationHistory', conversationId: CONVERSATION, messages: [], hasMore: false, requestId: join?.requestId })
    await clock.advance(100)

    assert.equal(old.readyState, 3)
    assert.equal(chat.state, 'open')
    await chat.close()
  })
})
