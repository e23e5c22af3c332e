import { Parser } from '@asyncapi/parser'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { CLIENT_ACTIONS, CLIENT_FRAMES, ERROR_STATUS, PING_ACTION, SERVER_FRAMES } from '@trainer-chat/protocol'
import { ASYNCAPI_FILE, asyncApiDocument, renderAsyncApi } from '../../scripts/asyncapi.ts'

/** The AsyncAPI document is generated from the protocol's zod schemas, is valid AsyncAPI 3.0, and is checked in as generated. */

type Json = Record<string, any>
const document = asyncApiDocument() as Json

async function errorsOf(doc: unknown): Promise<string[]> {
  const { diagnostics } = await new Parser().parse(JSON.stringify(doc))
  // Severity 0 is an error; the rest are hints (such as "3.1.0 exists").
  return diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`)
}

describe('the generated AsyncAPI document', () => {
  test('is a valid AsyncAPI 3.0 document', async () => {
    assert.deepEqual(await errorsOf(document), [])
    assert.equal(document.asyncapi, '3.0.0')
  })

  test('the parser refuses a broken document, so the check above means something', async () => {
    const broken = structuredClone(document)
    broken.operations.sendMessage.channel = { $ref: '#/channels/nowhere' }
    assert.notDeepEqual(await errorsOf(broken), [])
  })

  test('describes every client action (ping included) and every server frame, each with its schema', () => {
    for (const action of [...CLIENT_ACTIONS, PING_ACTION]) {
      assert.ok(document.operations[action], action)
      assert.equal(document.components.messages[action].payload.properties.action.const, action)
    }
    assert.deepEqual(Object.keys(CLIENT_FRAMES).sort(), [...CLIENT_ACTIONS, PING_ACTION].sort())
    for (const type of Object.keys(SERVER_FRAMES)) {
      assert.equal(document.components.messages[`${type}Frame`].payload.properties.type.const, type, type)
    }
  })

  test('every request names its one reply, and the error frame lists every error code', () => {
    const reply = (action: string) => document.operations[action].reply.messages.map((m: Json) => m.$ref.split('/').pop())
    assert.deepEqual(reply('joinConversation'), ['conversationHistoryFrame', 'errorFrame'])
    assert.deepEqual(reply('markAsRead'), ['okFrame', 'errorFrame'])
    assert.deepEqual(reply('ping'), ['pongFrame'])
    assert.deepEqual(document.components.messages.errorFrame.payload.properties.code.enum, Object.keys(ERROR_STATUS))
    assert.deepEqual(document.components.messages.sendMessage.payload.required.sort(), ['action', 'clientMessageId', 'conversationId'])
  })

  test('docs/asyncapi.json is exactly what `npm run asyncapi` generates', async () => {
    const committed = await readFile(ASYNCAPI_FILE, 'utf8')
    assert.equal(committed, renderAsyncApi(), 'docs/asyncapi.json is stale: run `npm run asyncapi`')
  })
})
