import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { MAX_SERVER_FRAME_BYTES } from '@trainer-chat/protocol'
import { createPair, type Pair } from '../helpers/fixtures.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * #11 item 5: a `conversationHistory` page is bounded by bytes as well as by count, so API
 * Gateway (and the local gateway, which answers 413 past 128 KB) never refuses one. Each page is
 * measured as it arrived on the socket; paging with `afterSeq` must still return every message
 * once, in order.
 */

let stack: TestStack

before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

/** A client that also records the size of every frame it receives, as it came off the socket. */
async function measured(email: string): Promise<{ client: TestClient; sizes: number[] }> {
  const client = await stack.connect(email)
  const sizes: number[] = []
  client.socket.on('message', (data: Buffer) => sizes.push(data.length))
  return { client, sizes }
}

interface Page {
  seqs: number[]
  hasMore: boolean
}

async function history(client: TestClient, conversationId: string, extra: { afterSeq?: number; limit?: number } = {}): Promise<Page> {
  const frame = await client.request({ action: 'joinConversation', conversationId, ...extra })
  assert.equal(frame.type, 'conversationHistory', JSON.stringify(frame).slice(0, 300))
  return { seqs: frame.messages.map((m: { seq: number }) => m.seq), hasMore: frame.hasMore }
}

/** Pages through a conversation with afterSeq from 0 until hasMore is false. */
async function catchUp(client: TestClient, conversationId: string, limit?: number): Promise<Page[]> {
  const pages: Page[] = []
  let afterSeq = 0
  for (;;) {
    const page = await history(client, conversationId, { afterSeq, ...(limit ? { limit } : {}) })
    pages.push(page)
    if (!page.hasMore) return pages
    assert.ok(page.seqs.length > 0, 'a page with hasMore carries at least one message')
    afterSeq = page.seqs.at(-1) as number
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('history pages bounded by bytes', () => {
  test('nine 4,000-emoji messages: every page fits under 128 KB and paging returns all nine', async () => {
    const pair = await createPair(stack.db, 'emoji')
    const member = await stack.connect(pair.member.email)
    const body = '😀'.repeat(4000) // 4,000 characters, 16,000 bytes
    for (let n = 1; n <= 9; n++) {
      const ack = await member.request({ action: 'sendMessage', conversationId: pair.conversationId, clientMessageId: `emoji-${n}`, body })
      assert.equal(ack.type, 'newMessage')
    }
    member.close()

    const { client: trainer, sizes } = await measured(pair.trainer.email)
    const latest = await history(trainer, pair.conversationId)
    assert.ok(latest.seqs.length >= 1 && latest.seqs.length < 9, `the latest page ends early: ${latest.seqs.length} messages`)
    assert.deepEqual(latest.seqs, range(10 - latest.seqs.length, 9), 'the newest messages, oldest first')
    assert.equal(latest.hasMore, true)

    const pages = await catchUp(trainer, pair.conversationId)
    assert.deepEqual(pages.flatMap((page) => page.seqs), range(1, 9))
    assert.ok(pages.length > 1)
    assert.ok(sizes.length === pages.length + 1)
    for (const size of sizes) assert.ok(size <= MAX_SERVER_FRAME_BYTES, `a frame of ${size} bytes`)
    trainer.close()
  })

  test('the heaviest legal messages (escaped characters, attachments with long names): pages fit and page through', async () => {
    const pair = await createPair(stack.db, 'heavy')
    // Written straight into the database: 100 messages whose JSON is as wide as the rules allow.
    // U+0001 is one character and six bytes of JSON (\u0001); a 255-character emoji file name
    // costs about 10 KB in a download URL's content disposition.
    const body = '\u0001'.repeat(4000)
    const fileName = `${'📎'.repeat(250)}.jpeg`
    const count = 100
    const attachments = Array.from({ length: count }, (_, i) => (i % 2 === 0 ? randomUUID() : null))
    await stack.db
      .insertInto('attachments')
      .values(
        attachments.flatMap((id) =>
          id === null
            ? []
            : [{ id, conversation_id: pair.conversationId, uploader_id: pair.member.id, object_key: `conversations/${pair.conversationId}/${id}`, file_name: fileName, content_type: 'image/jpeg', size: 1 }],
        ),
      )
      .execute()
    await stack.db
      .insertInto('messages')
      .values(
        attachments.map((attachmentId, i) => ({
          conversation_id: pair.conversationId,
          seq: i + 1,
          sender_id: i % 3 === 0 ? pair.trainer.id : pair.member.id,
          body,
          attachment_id: attachmentId,
          client_message_id: `heavy-${i + 1}`,
        })),
      )
      .execute()
    await stack.db.updateTable('conversations').set({ last_seq: count }).where('id', '=', pair.conversationId).execute()

    const { client: member, sizes } = await measured(pair.member.email)
    const latest = await history(member, pair.conversationId, { limit: 100 })
    assert.equal(latest.hasMore, true)
    assert.deepEqual(latest.seqs, range(count + 1 - latest.seqs.length, count))

    const pages = await catchUp(member, pair.conversationId, 100)
    assert.deepEqual(pages.flatMap((page) => page.seqs), range(1, count))
    for (const size of sizes) assert.ok(size <= MAX_SERVER_FRAME_BYTES, `a frame of ${size} bytes`)
    // The statement's budget, not the final trim, ended the pages: each one is well filled but
    // leaves room for fields added to messages after the statement.
    for (const size of sizes) assert.ok(size <= 112 * 1024, `a frame of ${size} bytes`)
    member.close()
  })

  test('small messages are still paged by count', async () => {
    const pair: Pair = await createPair(stack.db, 'small')
    await stack.db
      .insertInto('messages')
      .values(range(1, 30).map((seq) => ({ conversation_id: pair.conversationId, seq, sender_id: pair.member.id, body: `m${seq}`, client_message_id: `s-${seq}` })))
      .execute()
    await stack.db.updateTable('conversations').set({ last_seq: 30 }).where('id', '=', pair.conversationId).execute()
    const trainer = await stack.connect(pair.trainer.email)
    assert.deepEqual(await history(trainer, pair.conversationId, { limit: 10 }), { seqs: range(21, 30), hasMore: true })
    assert.deepEqual(await history(trainer, pair.conversationId, { afterSeq: 20, limit: 10 }), { seqs: range(21, 30), hasMore: false })
    assert.deepEqual(await history(trainer, pair.conversationId, { limit: 30 }), { seqs: range(1, 30), hasMore: false })
    trainer.close()
  })
})
