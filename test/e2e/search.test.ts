import assert from 'node:assert/strict'
import { sql } from 'kysely'
import { after, before, describe, test } from 'node:test'
import { ADMIN, databaseSnapshot, userId } from '../helpers/admin.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/**
 * Searching messages: one conversation (participants) and every conversation the caller may read.
 * Newest first, snippets with highlights, paging, websearch syntax; never a removed or deleted
 * message, never a conversation the caller could not read.
 */

let stack: TestStack
/** user1 with trainer1, and user2 with trainer2. */
let conversation1: string
let conversation2: string
const sent: Record<string, { id: string; seq: number }> = {}

interface Hit {
  conversationId: string
  messageId: string
  seq: number
  senderId: string
  createdAt: string
  snippet: string
  highlights: Array<{ start: number; end: number }>
}

const search = (email: string, path: string) => stack.api(path, { email })
const q = (text: string) => encodeURIComponent(text)
const highlighted = (hit: Hit) => hit.highlights.map((h) => hit.snippet.slice(h.start, h.end))

before(async () => {
  stack = await startTestStack()
  conversation1 = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  conversation2 = (await stack.api('/conversations', { email: 'user2@example.com' })).body.conversations[0].id
  const member1 = await stack.connect('user1@example.com')
  const trainer1 = await stack.connect('trainer1@example.com')
  const member2 = await stack.connect('user2@example.com')
  const say = async (client: typeof member1, conversationId: string, key: string, body: string) => {
    const reply = await client.request({ action: 'sendMessage', conversationId, clientMessageId: key, body })
    sent[key] = { id: reply.message.id, seq: reply.message.seq }
  }
  await say(trainer1, conversation1, 'plan', 'Here is your meal plan for Monday: oats, eggs and a banana.')
  await say(member1, conversation1, 'legs', 'Thanks! What about the leg day plan? Squats again?')
  await say(trainer1, conversation1, 'markup', 'Keep <b>protein</b> high & carbs < 200g on rest days: the plan stays simple.')
  await say(member1, conversation1, 'hidden', 'My secret plan is to skip cardio')
  await say(trainer1, conversation1, 'deleted', 'Old plan, please ignore')
  await say(member1, conversation1, 'other', 'See you on Tuesday')
  await say(member2, conversation2, 'plan2', 'Coach, I lost my meal plan')
  for (const client of [member1, trainer1, member2]) client.close()

  const hidden = await stack.api(`/admin/messages/${sent.hidden?.id}`, { method: 'DELETE', email: ADMIN, body: { reason: 'off topic' } })
  assert.equal(hidden.status, 200)
  // deleteMessage (another branch of #13) sets deleted_at; search must leave such messages out already.
  await stack.db.updateTable('messages').set({ deleted_at: new Date() }).where('id', '=', sent.deleted?.id ?? '').execute()
})
after(() => stack.close())

describe('GET /conversations/{id}/messages/search', () => {
  test('finds the matching messages newest first, with conversation, seq, sender and a highlighted snippet', async () => {
    const { status, body } = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=plan`)

    assert.equal(status, 200)
    assert.deepEqual(
      body.hits.map((hit: Hit) => hit.seq),
      [sent.markup?.seq, sent.legs?.seq, sent.plan?.seq],
    )
    assert.equal(body.nextCursor, null)
    const [markup, legs, plan] = body.hits as Hit[]
    assert.equal(plan?.conversationId, conversation1)
    assert.equal(plan?.messageId, sent.plan?.id)
    assert.equal(plan?.senderId, await userId(stack, 'trainer1@example.com'))
    assert.ok(!Number.isNaN(Date.parse(plan?.createdAt ?? '')))
    assert.match(plan?.snippet ?? '', /meal plan for Monday/)
    assert.deepEqual(highlighted(plan as Hit), ['plan'])
    // Stemming: "plans" would match too; the word as written is what is highlighted.
    assert.deepEqual(highlighted(legs as Hit), ['plan'])
    assert.ok(markup)
  })

  test('snippets are the text as written, markup-like characters included, never HTML', async () => {
    const { body } = await search('trainer1@example.com', `/conversations/${conversation1}/messages/search?q=protein`)
    assert.equal(body.hits.length, 1)
    const [hit] = body.hits as Hit[]
    assert.equal(hit?.snippet, 'Keep <b>protein</b> high & carbs < 200g on rest days: the plan stays simple.')
    assert.deepEqual(highlighted(hit as Hit), ['protein'])
  })

  test('takes websearch syntax: a quoted phrase, or, and -word', async () => {
    const phrase = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=${q('"meal plan"')}`)
    assert.deepEqual(phrase.body.hits.map((hit: Hit) => hit.messageId), [sent.plan?.id])
    const either = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=${q('squats or tuesday')}`)
    assert.deepEqual(either.body.hits.map((hit: Hit) => hit.messageId), [sent.other?.id, sent.legs?.id])
    const without = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=${q('plan -squats')}`)
    assert.deepEqual(without.body.hits.map((hit: Hit) => hit.messageId), [sent.markup?.id, sent.plan?.id])
    const stopWordsOnly = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=${q('the and')}`)
    assert.deepEqual(stopWordsOnly, { status: 200, body: { hits: [], nextCursor: null } })
  })

  test('pages with an opaque cursor, each hit exactly once and in order', async () => {
    const seen: number[] = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: { hits: Hit[]; nextCursor: string | null } } = await search(
        'user1@example.com',
        `/conversations/${conversation1}/messages/search?q=plan&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      )
      assert.equal(page.status, 200)
      assert.ok(page.body.hits.length <= 1)
      seen.push(...page.body.hits.map((hit) => hit.seq))
      cursor = page.body.nextCursor
    } while (cursor)
    assert.deepEqual(seen, [sent.markup?.seq, sent.legs?.seq, sent.plan?.seq])
  })

  test('never finds a removed or a deleted message', async () => {
    for (const words of ['secret cardio', 'ignore']) {
      const { body } = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=${q(words)}`)
      assert.deepEqual(body.hits, [], words)
    }
  })

  test('follows the body: an edited message is found by its new words only', async () => {
    await stack.db.updateTable('messages').set({ body: 'Tuesday is swim day' }).where('id', '=', sent.other?.id ?? '').execute()
    const swim = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=swim`)
    assert.deepEqual(swim.body.hits.map((hit: Hit) => hit.messageId), [sent.other?.id])
    const old = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=${q('see you')}`)
    assert.deepEqual(old.body.hits, [])
  })

  test('past the newest 500 messages (read directly) the index finds the rest: every hit once, in order, across that boundary', async () => {
    // user2's conversation gets 700 more messages; "kettlebell" is in a few, old and new.
    const trainer2 = await userId(stack, 'trainer2@example.com')
    const kettlebell = [5, 150, 199, 201, 650]
    await sql`
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id)
      SELECT ${conversation2}::uuid, s, ${trainer2}::uuid,
        'Set ' || s || CASE WHEN s - 1 = ANY (${kettlebell}::int[]) THEN ': kettlebell swings' ELSE ': rowing' END, 'bulk-' || s
      FROM generate_series(2, 701) s`.execute(stack.db)
    await stack.db.updateTable('conversations').set({ last_seq: 701 }).where('id', '=', conversation2).execute()

    const seen: number[] = []
    let cursor: string | null = null
    do {
      const page: { body: { hits: Hit[]; nextCursor: string | null } } = await search(
        'user2@example.com',
        `/conversations/${conversation2}/messages/search?q=kettlebell&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      )
      seen.push(...page.body.hits.map((hit) => hit.seq))
      cursor = page.body.nextCursor
    } while (cursor)
    assert.deepEqual(seen, [...kettlebell].reverse().map((n) => n + 1))
    const common = await search('user2@example.com', `/conversations/${conversation2}/messages/search?q=rowing&limit=3`)
    assert.deepEqual(common.body.hits.map((hit: Hit) => hit.seq), [701, 700, 699])
    const everywhere = await search('user2@example.com', `/search?q=kettlebell&limit=50`)
    assert.equal(everywhere.body.hits.length, kettlebell.length)
  })

  test('is one statement', async () => {
    await stack.ws.idle()
    stack.statements.length = 0
    const { status } = await search('user1@example.com', `/conversations/${conversation1}/messages/search?q=plan`)
    assert.equal(status, 200)
    assert.equal(stack.statements.length, 1)
  })

  describe('refusals, each changing nothing', () => {
    let snapshot: unknown
    before(async () => {
      snapshot = await databaseSnapshot(stack)
    })

    test('another member (not a participant) gets 403', async () => {
      const { status, body } = await search('user2@example.com', `/conversations/${conversation1}/messages/search?q=plan`)
      assert.equal(status, 403)
      assert.equal(body.error.code, 'forbidden')
    })

    test('another trainer gets 403', async () => {
      const { status } = await search('trainer2@example.com', `/conversations/${conversation1}/messages/search?q=plan`)
      assert.equal(status, 403)
    })

    test('an admin gets 403: admins read through the admin API', async () => {
      const { status } = await search(ADMIN, `/conversations/${conversation1}/messages/search?q=plan`)
      assert.equal(status, 403)
    })

    test('an unknown conversation is 404', async () => {
      const { status, body } = await search('user1@example.com', `/conversations/00000000-0000-4000-8000-000000000000/messages/search?q=plan`)
      assert.equal(status, 404)
      assert.equal(body.error.code, 'not_found')
    })

    test('no token is 401', async () => {
      const { status } = await stack.api(`/conversations/${conversation1}/messages/search?q=plan`)
      assert.equal(status, 401)
    })

    test('an empty, blank or too long query, a bad limit and a forged cursor are 400, naming the field', async () => {
      for (const [query, field] of [
        ['', 'query.q'],
        ['q=%20%20', 'query.q'],
        [`q=${'a'.repeat(201)}`, 'query.q'],
        ['q=plan&limit=0', 'query.limit'],
        ['q=plan&limit=51', 'query.limit'],
        ['q=plan&cursor=bm90LWpzb24', 'query.cursor'],
      ] as const) {
        const { status, body } = await search('user1@example.com', `/conversations/${conversation1}/messages/search?${query}`)
        assert.equal(status, 400, query)
        assert.equal(body.error.code, 'bad_request')
        assert.ok(body.error.details.issues.some((issue: { in: string; path: string }) => `${issue.in}.${issue.path}` === field), query)
      }
    })

    test('the refused searches changed nothing', async () => {
      assert.deepEqual(await databaseSnapshot(stack), snapshot)
    })
  })
})

describe('GET /search', () => {
  test("a member finds only their own conversation's messages", async () => {
    const { status, body } = await search('user1@example.com', '/search?q=plan')
    assert.equal(status, 200)
    assert.deepEqual(body.hits.map((hit: Hit) => hit.messageId), [sent.markup?.id, sent.legs?.id, sent.plan?.id])
    const other = await search('user2@example.com', '/search?q=plan')
    assert.deepEqual(other.body.hits.map((hit: Hit) => [hit.conversationId, hit.messageId]), [[conversation2, sent.plan2?.id]])
  })

  test("a trainer finds their members' conversations, newest first, and pages through them", async () => {
    const email = 'trainer2@example.com'
    // user1 joins trainer2 too, so trainer2 has two members' conversations to search.
    const member1 = await userId(stack, 'user1@example.com')
    const trainer2 = await userId(stack, email)
    const moved = await stack.api(`/admin/users/${member1}/trainer`, { method: 'PUT', email: ADMIN, body: { trainerId: trainer2 } })
    assert.equal(moved.status, 200)
    const newConversation = moved.body.conversation.id as string
    const client = await stack.connect('user1@example.com')
    const reply = await client.request({ action: 'sendMessage', conversationId: newConversation, clientMessageId: 'new', body: 'New coach, new meal plan' })
    client.close()

    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: { status: number; body: { hits: Hit[]; nextCursor: string | null } } = await search(
        email,
        `/search?q=${q('meal plan')}&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      )
      assert.equal(page.status, 200)
      seen.push(...page.body.hits.map((hit) => hit.messageId))
      cursor = page.body.nextCursor
    } while (cursor)
    assert.deepEqual(seen, [reply.message.id, sent.plan2?.id])
  })

  test('after a reassignment, neither the member nor the former trainer finds the old conversation', async () => {
    // user1 moved to trainer2 in the test before.
    const member = await search('user1@example.com', '/search?q=plan')
    assert.ok(member.body.hits.every((hit: Hit) => hit.conversationId !== conversation1), JSON.stringify(member.body))
    const formerTrainer = await search('trainer1@example.com', '/search?q=plan')
    assert.deepEqual(formerTrainer.body.hits, [])
    const conversationSearch = await search('trainer1@example.com', `/conversations/${conversation1}/messages/search?q=plan`)
    assert.equal(conversationSearch.status, 403)
  })

  test('an admin takes part in no conversation and finds nothing', async () => {
    const { status, body } = await search(ADMIN, '/search?q=plan')
    assert.deepEqual({ status, body }, { status: 200, body: { hits: [], nextCursor: null } })
  })

  test('never finds a removed or a deleted message', async () => {
    for (const email of ['trainer1@example.com', 'user1@example.com']) {
      for (const words of ['secret', 'ignore']) {
        const { body } = await search(email, `/search?q=${words}`)
        assert.deepEqual(body.hits, [], `${email}: ${words}`)
      }
    }
  })

  test('a disabled user is refused with 403 and nothing changes', async () => {
    const disabledEmail = 'search-disabled@example.com'
    await userId(stack, disabledEmail)
    await stack.db.updateTable('users').set({ disabled_at: new Date() }).where('email', '=', disabledEmail).execute()
    const snapshot = await databaseSnapshot(stack)
    const { status, body } = await search(disabledEmail, '/search?q=plan')
    assert.equal(status, 403)
    assert.equal(body.error.code, 'forbidden')
    assert.deepEqual(await databaseSnapshot(stack), snapshot)
  })

  test('is one statement', async () => {
    await stack.ws.idle()
    stack.statements.length = 0
    const { status } = await search('trainer2@example.com', '/search?q=plan')
    assert.equal(status, 200)
    assert.equal(stack.statements.length, 1)
  })
})
