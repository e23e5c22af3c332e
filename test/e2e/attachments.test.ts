import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { sql } from 'kysely'
import { invoke } from '@trainer-chat/aws-edge'
import { ADMIN } from '../helpers/admin.ts'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/**
 * File sharing end to end: the upload route presigns, a plain HTTP client uploads straight to
 * the local AWS edge (whose S3 verifies SigV4 as S3 does), sendMessage references the upload,
 * and the reader downloads it with the URL signed for them.
 */

let stack: TestStack
let conversationId: string
let otherConversationId: string
const PHOTO = randomBytes(2048)

before(async () => {
  stack = await startTestStack()
  conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  otherConversationId = (await stack.api('/conversations', { email: 'user2@example.com' })).body.conversations[0].id
})
after(() => stack.close())

interface Ticket {
  attachmentId: string
  uploadUrl: string
  method: string
  headers: Record<string, string>
  expiresAt: string
}

async function requestUpload(
  email: string,
  file: { fileName?: string; contentType?: string; size?: number } = {},
  conversation = conversationId,
): Promise<{ status: number; body: any }> {
  return stack.api(`/conversations/${conversation}/attachments`, {
    method: 'POST',
    email,
    body: { fileName: file.fileName ?? 'progress.png', contentType: file.contentType ?? 'image/png', size: file.size ?? PHOTO.length },
  })
}

async function ticketFor(email: string, file: { fileName?: string; contentType?: string; size?: number } = {}, conversation = conversationId): Promise<Ticket> {
  const { status, body } = await requestUpload(email, file, conversation)
  assert.equal(status, 201, JSON.stringify(body))
  return body as Ticket
}

/** A plain fetch PUT, as an app would do it. */
function upload(ticket: Ticket, bytes: Buffer, headers: Record<string, string> = ticket.headers): Promise<Response> {
  return fetch(ticket.uploadUrl, { method: ticket.method, headers, body: bytes })
}

async function uploaded(email: string, bytes: Buffer = PHOTO, conversation = conversationId): Promise<Ticket> {
  const ticket = await ticketFor(email, { size: bytes.length }, conversation)
  const response = await upload(ticket, bytes)
  assert.equal(response.status, 200, await response.text())
  return ticket
}

async function messageCount(): Promise<number> {
  const row = await stack.db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('conversation_id', 'in', [conversationId, otherConversationId])
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

async function s3Code(response: Response): Promise<string | undefined> {
  return /<Code>([^<]*)<\/Code>/.exec(await response.text())?.[1]
}

describe('sharing a file', () => {
  test('a member uploads a photo, sends it, and the trainer downloads the same bytes', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    await trainer.request({ action: 'joinConversation', conversationId })
    const member = await stack.connect('user1@example.com')

    const ticket = await ticketFor('user1@example.com', { fileName: 'week 3/Front view.png' })
    const put = await upload(ticket, PHOTO)
    const ack = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

    assert.equal(ticket.method, 'PUT')
    assert.deepEqual(ticket.headers, { 'content-type': 'image/png', 'content-length': String(PHOTO.length), 'if-none-match': '*' })
    assert.ok(Date.parse(ticket.expiresAt) > Date.now())
    assert.ok(new URL(ticket.uploadUrl).pathname.endsWith(`/conversations/${conversationId}/${ticket.attachmentId}`), 'the server chose the key')
    assert.equal(put.status, 200)
    assert.equal(ack.type, 'newMessage', JSON.stringify(ack))
    assert.equal(ack.message.body, '', 'the body is optional with an attachment')
    assert.ok(ack.message.attachment)
    const { downloadUrl, ...attachment } = ack.message.attachment
    assert.deepEqual(attachment, { id: ticket.attachmentId, fileName: 'Front view.png', contentType: 'image/png', size: PHOTO.length })
    const delivered = await trainer.nextOfType('newMessage')
    const download = await fetch(delivered.message.attachment.downloadUrl)
    assert.equal(download.status, 200)
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), PHOTO)
    assert.equal(download.headers.get('content-type'), 'image/png')
    assert.match(download.headers.get('content-disposition') ?? '', /^attachment; filename="Front view.png"/)
    assert.equal(typeof downloadUrl, 'string')
    member.close()
    trainer.close()
  })

  test('history over the WebSocket and over REST carries a working download URL for the reader', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const sent = await member.request({
      action: 'sendMessage',
      conversationId,
      clientMessageId: randomUUID(),
      body: 'Week 4 progress',
      attachmentId: ticket.attachmentId,
    })
    const trainer = await stack.connect('trainer1@example.com')

    const history = await trainer.request({ action: 'joinConversation', conversationId })
    const rest = await stack.api(`/conversations/${conversationId}/messages`, { email: 'trainer1@example.com' })
    const list = await stack.api('/conversations', { email: 'trainer1@example.com' })

    const fromHistory = history.messages.find((message: any) => message.id === sent.message.id)
    const fromRest = rest.body.messages.find((message: any) => message.id === sent.message.id)
    const summary = list.body.conversations.find((conversation: any) => conversation.id === conversationId)
    for (const message of [fromHistory, fromRest, summary.lastMessage]) {
      assert.equal(message.body, 'Week 4 progress')
      assert.equal(message.attachment.id, ticket.attachmentId)
      const download = await fetch(message.attachment.downloadUrl)
      assert.equal(download.status, 200)
      assert.deepEqual(Buffer.from(await download.arrayBuffer()), PHOTO)
    }
    member.close()
    trainer.close()
  })

  test('an admin reading the conversation sees the attachment a message carries, and none on a plain message', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const withFile = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), body: 'form check', attachmentId: ticket.attachmentId })
    const plain = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), body: 'no file' })
    member.close()

    const page = await stack.api(`/admin/conversations/${conversationId}/messages?limit=100`, { email: ADMIN })

    assert.equal(page.status, 200)
    const byId = new Map(page.body.messages.map((message: any) => [message.id, message]))
    const shown: any = byId.get(withFile.message.id)
    assert.deepEqual(
      [shown.attachment.id, shown.attachment.fileName, shown.attachment.contentType, shown.attachment.size],
      [ticket.attachmentId, withFile.message.attachment.fileName, withFile.message.attachment.contentType, PHOTO.length],
    )
    assert.equal(shown.hiddenBy, null)
    assert.equal((byId.get(plain.message.id) as any).attachment, null)
  })

  test('a PDF from the trainer shows as "sent a file" on the member’s other devices', async () => {
    const trainer = await stack.connect('trainer1@example.com')
    const memberElsewhere = await stack.connect('user1@example.com')
    const plan = Buffer.from('%PDF-1.7 training plan')
    const ticket = await ticketFor('trainer1@example.com', { fileName: 'plan.pdf', contentType: 'application/pdf', size: plan.length })
    assert.equal((await upload(ticket, plan)).status, 200)

    await trainer.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

    const notification = await memberElsewhere.nextOfType('newMessageNotification')
    assert.equal(notification.preview, 'sent a file')
    trainer.close()
    memberElsewhere.close()
  })

  test('sending with an attachment is still one database statement', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    await stack.ws.idle()
    stack.statements.length = 0

    await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })
    await stack.ws.idle()

    assert.equal(stack.statements.length, 1)
    member.close()
  })
})

describe('refusals before a URL is issued', () => {
  test('a type outside the allowed list is 400 and records nothing', async () => {
    const { status, body } = await requestUpload('user1@example.com', { fileName: 'run.sh', contentType: 'application/x-sh' })

    assert.equal(status, 400)
    assert.equal(body.error.details.field, 'contentType')
  })

  test('a file over the size limit is 400', async () => {
    const { status, body } = await requestUpload('user1@example.com', { size: 25 * 1024 * 1024 + 1 })

    assert.equal(status, 400)
    assert.deepEqual(body.error.details, { field: 'size', limit: 25 * 1024 * 1024 })
  })

  test('someone outside the conversation gets 403', async () => {
    const before = await stack.db.selectFrom('attachments').select('id').execute()

    const { status } = await requestUpload('user2@example.com')

    assert.equal(status, 403)
    assert.equal((await stack.db.selectFrom('attachments').select('id').execute()).length, before.length)
  })
})

describe('uploads storage refuses', () => {
  test('another content type than the signed one', async () => {
    const ticket = await ticketFor('user1@example.com')

    const response = await upload(ticket, PHOTO, { 'content-type': 'text/html' })

    assert.equal(response.status, 403)
    assert.equal(await s3Code(response), 'SignatureDoesNotMatch')
  })

  test('a body larger than declared', async () => {
    const ticket = await ticketFor('user1@example.com')

    const response = await upload(ticket, Buffer.concat([PHOTO, Buffer.from('more')]), { 'content-type': 'image/png' })

    assert.equal(response.status, 403)
    assert.equal(await s3Code(response), 'SignatureDoesNotMatch')
  })

  test('a tampered signature, or the URL pointed at another key', async () => {
    const ticket = await ticketFor('user1@example.com')
    const tampered = new URL(ticket.uploadUrl)
    const signature = tampered.searchParams.get('X-Amz-Signature') ?? ''
    tampered.searchParams.set('X-Amz-Signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`)
    const otherKey = new URL(ticket.uploadUrl)
    otherKey.pathname = otherKey.pathname.replace(ticket.attachmentId, randomUUID())

    const forged = await upload({ ...ticket, uploadUrl: tampered.toString() }, PHOTO)
    const moved = await upload({ ...ticket, uploadUrl: otherKey.toString() }, PHOTO)

    assert.equal(forged.status, 403)
    assert.equal(await s3Code(forged), 'SignatureDoesNotMatch')
    assert.equal(moved.status, 403)
  })

  test('a second upload to the same URL after the message was sent: 412, and recipients still get the original (#11 item 14)', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const sent = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })
    assert.equal(sent.type, 'newMessage', JSON.stringify(sent))
    const swapped = Buffer.alloc(PHOTO.length, 0x41)

    const again = await upload(ticket, swapped)

    assert.equal(again.status, 412)
    assert.equal(await s3Code(again), 'PreconditionFailed')
    const download = await fetch(String(sent.message.attachment?.downloadUrl))
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), PHOTO, 'the object did not change')
    member.close()
  })

  test('an upload that drops the signed If-None-Match header', async () => {
    const ticket = await ticketFor('user1@example.com')
    const { 'if-none-match': _dropped, ...headers } = ticket.headers

    const response = await upload(ticket, PHOTO, headers)

    assert.equal(response.status, 403)
    assert.equal(await s3Code(response), 'SignatureDoesNotMatch')
    // Nothing was stored: the upload as signed, a conditional create, still succeeds.
    assert.equal((await upload(ticket, PHOTO)).status, 200)
  })

  test('download URLs live at most a minute, so a hidden message’s attachment is out of reach within one (#11 item 14)', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const sent = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })
    assert.ok(Number(new URL(String(sent.message.attachment?.downloadUrl)).searchParams.get('X-Amz-Expires')) <= 60)
    assert.throws(() => stack.reconfigure({ ATTACHMENT_DOWNLOAD_URL_SECONDS: '900' }), /ATTACHMENT_DOWNLOAD_URL_SECONDS/)
    member.close()
  })

  test('an expired URL', async () => {
    stack.reconfigure({ ATTACHMENT_UPLOAD_URL_SECONDS: '1' })
    try {
      const ticket = await ticketFor('user1@example.com')
      await new Promise((resolve) => setTimeout(resolve, 1500))

      const response = await upload(ticket, PHOTO)

      assert.equal(response.status, 403)
      assert.equal(await s3Code(response), 'AccessDenied')
    } finally {
      stack.reconfigure({})
    }
  })
})

describe('sending an attachment is refused', () => {
  test('before it was uploaded, naming the reason, and stores nothing', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await ticketFor('user1@example.com')
    const before = await messageCount()

    const reply = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

    assert.equal(reply.type, 'error')
    assert.equal(reply.code, 'bad_request')
    assert.equal(reply.details?.reason, 'not_uploaded')
    assert.equal(await messageCount(), before)
    member.close()
  })

  test('when it belongs to another conversation, or to the other participant', async () => {
    const member = await stack.connect('user1@example.com')
    const elsewhere = await uploaded('user2@example.com', PHOTO, otherConversationId)
    const trainers = await uploaded('trainer1@example.com')
    const before = await messageCount()

    const foreign = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: elsewhere.attachmentId })
    const borrowed = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: trainers.attachmentId })

    assert.equal(foreign.code, 'forbidden')
    assert.equal(borrowed.code, 'forbidden')
    assert.equal(await messageCount(), before)
    member.close()
  })

  test('the second time it is used', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const first = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })
    const before = await messageCount()

    const second = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

    assert.equal(first.type, 'newMessage')
    assert.equal(second.code, 'conflict')
    assert.equal(await messageCount(), before)
    member.close()
  })

  test('once its use window has passed', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    await sql`UPDATE attachments SET created_at = now() - interval '2 days' WHERE id = ${ticket.attachmentId}`.execute(stack.db)
    const before = await messageCount()

    const reply = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

    assert.equal(reply.code, 'bad_request')
    assert.equal(reply.details?.reason, 'expired')
    assert.equal(await messageCount(), before)
    member.close()
  })

  test('when the stored object is not what was declared', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await ticketFor('user1@example.com')
    // Written with the backend's own credentials, bypassing the presigned URL's size binding.
    const s3 = new S3Client({ endpoint: stack.awsUrl, forcePathStyle: true, region: 'us-east-1', requestChecksumCalculation: 'WHEN_REQUIRED' })
    const key = new URL(ticket.uploadUrl).pathname.split('/').slice(2).join('/')
    await s3.send(new PutObjectCommand({ Bucket: 'trainer-chat-attachments', Key: key, Body: Buffer.from('tiny'), ContentType: 'image/png' }))
    s3.destroy()
    const before = await messageCount()

    const reply = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

    assert.equal(reply.code, 'bad_request')
    assert.equal(reply.details?.reason, 'size_mismatch')
    assert.equal(await messageCount(), before)
    member.close()
  })
})

describe('downloads', () => {
  test('someone outside the conversation can read neither its history nor its objects', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const sent = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })
    const objectUrl = new URL(sent.message.attachment.downloadUrl)
    objectUrl.search = ''

    const history = await stack.api(`/conversations/${conversationId}/messages`, { email: 'user2@example.com' })
    const unsigned = await fetch(objectUrl)

    assert.equal(history.status, 403)
    assert.equal(unsigned.status, 403)
    member.close()
  })
})

describe('when storage is unavailable', () => {
  test('plain messages still go through; a message with an attachment answers unavailable', async () => {
    const member = await stack.connect('user1@example.com')
    const ticket = await uploaded('user1@example.com')
    const edge = stack.aws
    assert.ok(edge, 'the in-process AWS edge')
    edge.s3.failNext(100)
    try {
      const plain = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), body: 'still here' })
      const withFile = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: ticket.attachmentId })

      assert.equal(plain.type, 'newMessage')
      assert.equal(plain.message.body, 'still here')
      assert.equal(withFile.code, 'unavailable')
    } finally {
      edge.s3.failNext(0)
    }
    member.close()
  })
})

describe('uploads never sent', () => {
  test('are deleted, object and row, once they can no longer be sent; sent ones stay', async () => {
    const member = await stack.connect('user1@example.com')
    const unused = await uploaded('user1@example.com')
    const used = await uploaded('user1@example.com')
    await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: used.attachmentId })
    await sql`UPDATE attachments SET created_at = now() - interval '3 days' WHERE id IN (${unused.attachmentId}, ${used.attachmentId})`.execute(stack.db)
    const usedDownload = (await stack.api(`/conversations/${conversationId}/messages`, { email: 'user1@example.com' })).body.messages.at(-1)
      .attachment.downloadUrl

    const swept: { deleted: number } = await invoke(stack.handlers()['attachments-sweep'], {}, 'attachments-sweep')

    assert.ok(swept.deleted >= 1)
    const rows = await stack.db.selectFrom('attachments').select('id').where('id', 'in', [unused.attachmentId, used.attachmentId]).execute()
    assert.deepEqual(rows.map((row) => row.id), [used.attachmentId])
    assert.equal((await fetch(usedDownload)).status, 200)
    const late = await member.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), attachmentId: unused.attachmentId })
    assert.equal(late.code, 'not_found')
    member.close()
  })
})
