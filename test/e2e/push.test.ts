import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { DeleteEndpointCommand, GetEndpointAttributesCommand, SNSClient } from '@aws-sdk/client-sns'
import { sql } from 'kysely'
import { createDeviceStore } from '../../lambdas/adapters/device-store.ts'
import { registerDevice } from '../../lambdas/core/push.ts'
import { DEMO_USERS } from '../../local/demo-users.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'

/**
 * Push notifications end to end: devices registered over REST get real SNS platform endpoints
 * on the local AWS edge, and what sendMessage publishes is read back the way LocalStack shows
 * it, at GET /_aws/sns/platform-endpoint-messages.
 */

let stack: TestStack
let conversationId: string
let trainer: TestClient

interface Published {
  TargetArn: string
  Message: string
  MessageStructure: string | null
}

before(async () => {
  stack = await startTestStack()
  conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
})
after(() => stack.close())

beforeEach(async () => {
  trainer?.close()
  await stack.ws.idle()
  // Each test starts with the member offline, no devices, nothing muted and no recorded pushes.
  await sql`DELETE FROM connections`.execute(stack.db)
  await sql`DELETE FROM devices`.execute(stack.db)
  await sql`DELETE FROM notification_mutes`.execute(stack.db)
  await fetch(`${stack.awsUrl}/_aws/sns/platform-endpoint-messages`, { method: 'DELETE' })
  trainer = await stack.connect('trainer1@example.com')
})

async function register(email: string, platform: 'ios' | 'android', token: string) {
  return stack.api('/devices', { method: 'POST', email, body: { platform, token } })
}

async function endpointOf(token: string): Promise<string> {
  const row = await stack.db.selectFrom('devices').select('endpoint_arn').where('token', '=', token).executeTakeFirstOrThrow()
  return row.endpoint_arn
}

async function pushes(): Promise<Published[]> {
  const response = await fetch(`${stack.awsUrl}/_aws/sns/platform-endpoint-messages`)
  const body = (await response.json()) as { platform_endpoint_messages: Record<string, Published[]> }
  return Object.values(body.platform_endpoint_messages).flat()
}

/** The trainer sends; returns the acknowledged message once the whole invocation (push included) is done. */
async function trainerSends(frame: Record<string, unknown> = { body: 'See you Thursday' }) {
  const ack = await trainer.request({ action: 'sendMessage', conversationId, clientMessageId: randomUUID(), ...frame })
  assert.equal(ack.type, 'newMessage', JSON.stringify(ack))
  await stack.ws.idle()
  return ack.message
}

async function memberUnreadCount(): Promise<number> {
  const { body } = await stack.api('/conversations', { email: 'user1@example.com' })
  return body.conversations.reduce((sum: number, conversation: { unreadCount: number }) => sum + conversation.unreadCount, 0)
}

describe('registering devices', () => {
  test('creates an SNS endpoint on the platform application and lists the device', async () => {
    const registered = await register('user1@example.com', 'ios', 'ios-token-register')
    const listed = await stack.api('/devices', { email: 'user1@example.com' })

    assert.equal(registered.status, 200)
    assert.equal(registered.body.tokenHint, '…ster')
    assert.ok(!JSON.stringify([registered.body, listed.body]).includes('ios-token-register'), 'the token is never sent back')
    assert.equal(registered.body.platform, 'ios')
    assert.equal(registered.body.enabled, true)
    assert.deepEqual(listed.body.devices.map((device: { tokenHint: string }) => device.tokenHint), ['…ster'])
    assert.match(await endpointOf('ios-token-register'), /^arn:aws:sns:us-east-1:\d{12}:endpoint\/APNS\/trainer-chat-local-ios\//)
  })

  test('registering the same token again reuses the one endpoint', async () => {
    await register('user1@example.com', 'android', 'android-token-again')
    const first = await endpointOf('android-token-again')

    const again = await register('user1@example.com', 'android', 'android-token-again')

    assert.equal(again.status, 200)
    assert.equal(await endpointOf('android-token-again'), first)
    const saved = JSON.parse(await readFile(join(stack.dataDir, 'aws', 'sns', 'platform.json'), 'utf8')) as { endpoints: Array<{ token: string }> }
    assert.equal(saved.endpoints.filter((endpoint) => endpoint.token === 'android-token-again').length, 1)
  })

  test('a token registered by another user moves to them, endpoint and all', async () => {
    await register('user1@example.com', 'ios', 'shared-phone')
    const endpoint = await endpointOf('shared-phone')

    await register('user2@example.com', 'ios', 'shared-phone')
    await trainerSends()

    assert.deepEqual((await stack.api('/devices', { email: 'user1@example.com' })).body.devices, [])
    assert.deepEqual((await stack.api('/devices', { email: 'user2@example.com' })).body.devices.map((d: { tokenHint: string }) => d.tokenHint), ['…hone'])
    assert.equal(await endpointOf('shared-phone'), endpoint)
    assert.deepEqual(await pushes(), [], 'a message to the previous owner no longer reaches the phone')
  })

  test('a token moving to another user on another platform deletes the previous owner’s endpoint (#11 item 11)', async () => {
    await register('user1@example.com', 'ios', 'shared-tablet')
    const previous = await endpointOf('shared-tablet')

    const moved = await register('user2@example.com', 'android', 'shared-tablet')

    assert.equal(moved.status, 200)
    assert.ok(!JSON.stringify(moved.body).includes('shared-tablet'), 'the token is never sent back')
    assert.notEqual(await endpointOf('shared-tablet'), previous)
    const sns = new SNSClient({ endpoint: stack.awsUrl, region: 'us-east-1' })
    const gone = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: previous })).then(
      () => 'still there',
      (error: { name?: string }) => error.name,
    )
    sns.destroy()
    assert.equal(gone, 'NotFoundException')
    assert.deepEqual((await stack.api('/devices', { email: 'user1@example.com' })).body.devices, [])
  })

  test('deleting a device removes it and its SNS endpoint; an unknown one is 404', async () => {
    await register('user1@example.com', 'ios', 'ios-token-delete')
    const endpoint = await endpointOf('ios-token-delete')

    const removed = await stack.api('/devices/ios-token-delete', { method: 'DELETE', email: 'user1@example.com' })
    const again = await stack.api('/devices/ios-token-delete', { method: 'DELETE', email: 'user1@example.com' })

    assert.equal(removed.status, 204)
    assert.equal(again.status, 404)
    const sns = new SNSClient({ endpoint: stack.awsUrl, region: 'us-east-1' })
    await assert.rejects(sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpoint })), { name: 'NotFoundException' })
    sns.destroy()
  })
})

describe('a message to an offline recipient', () => {
  test('sends exactly one push per device, with title, preview, deep link and badge', async () => {
    await register('user1@example.com', 'ios', 'ios-token-payload')
    await register('user1@example.com', 'android', 'android-token-payload')
    const long = `Great session today! ${'Keep your back straight on every rep. '.repeat(5)}SECRET-TAIL`

    const message = await trainerSends({ body: long })

    const published = await pushes()
    assert.deepEqual(published.map((p) => p.TargetArn).sort(), [await endpointOf('ios-token-payload'), await endpointOf('android-token-payload')].sort())
    const badge = await memberUnreadCount()
    for (const push of published) {
      assert.equal(push.MessageStructure, 'json')
      assert.ok(!push.Message.includes('SECRET-TAIL'), 'text beyond the preview never reaches the provider')
    }
    const payload = JSON.parse((published[0] as Published).Message) as Record<string, string>
    const apns = JSON.parse(payload['APNS'] as string)
    assert.equal(apns.aps.alert.title, 'Tara Trainer')
    assert.equal([...apns.aps.alert.body].length, 100)
    assert.ok(apns.aps.alert.body.startsWith('Great session today!') && apns.aps.alert.body.endsWith('…'))
    assert.equal(apns.aps.badge, badge)
    assert.equal(apns.conversationId, conversationId)
    assert.equal(apns.messageId, message.id)
    const fcm = JSON.parse(payload['GCM'] as string).fcmV1Message.message
    assert.deepEqual(fcm.notification, apns.aps.alert)
    assert.deepEqual(fcm.data, { conversationId, messageId: message.id, badge: String(badge) })
  })

  test('a bare photo is announced as "sent a photo"', async () => {
    await register('user1@example.com', 'ios', 'ios-token-photo')
    const photo = Buffer.from('89504e470d0a1a0a', 'hex')
    const ticket = (
      await stack.api(`/conversations/${conversationId}/attachments`, {
        method: 'POST',
        email: 'trainer1@example.com',
        body: { fileName: 'form.png', contentType: 'image/png', size: photo.length },
      })
    ).body
    await fetch(ticket.uploadUrl, { method: 'PUT', headers: ticket.headers, body: photo })

    await trainerSends({ attachmentId: ticket.attachmentId })

    const [push] = await pushes()
    assert.ok(push)
    assert.equal(JSON.parse(JSON.parse(push.Message).APNS).aps.alert.body, 'sent a photo')
  })

  test('is still one database statement, push data included', async () => {
    await register('user1@example.com', 'ios', 'ios-token-count')
    await stack.ws.idle()
    stack.statements.length = 0

    await trainerSends()

    assert.equal(stack.statements.length, 1)
    assert.equal((await pushes()).length, 1)
  })
})

describe('no push', () => {
  test('when the recipient has a live connection', async () => {
    await register('user1@example.com', 'ios', 'ios-token-online')
    const member = await stack.connect('user1@example.com')

    await trainerSends()

    await member.nextOfType('newMessageNotification')
    assert.deepEqual(await pushes(), [])
    member.close()
  })

  test('when the recipient muted notifications, until they unmute', async () => {
    await register('user1@example.com', 'ios', 'ios-token-muted')
    const muted = await stack.api('/me/notifications', { method: 'PUT', email: 'user1@example.com', body: { muted: true } })

    await trainerSends()
    const whileMuted = await pushes()
    const settings = await stack.api('/me/notifications', { email: 'user1@example.com' })
    await stack.api('/me/notifications', { method: 'PUT', email: 'user1@example.com', body: { muted: false } })
    await trainerSends()

    assert.deepEqual(muted.body, { muted: true })
    assert.deepEqual(settings.body, { muted: true, mutedConversationIds: [] })
    assert.deepEqual(whileMuted, [])
    assert.equal((await pushes()).length, 1)
  })

  test('when the recipient muted this conversation', async () => {
    await register('user1@example.com', 'ios', 'ios-token-conversation-muted')
    const muted = await stack.api(`/conversations/${conversationId}/notifications`, {
      method: 'PUT',
      email: 'user1@example.com',
      body: { muted: true },
    })

    await trainerSends()

    assert.deepEqual(muted.body, { conversationId, muted: true })
    assert.deepEqual((await stack.api('/me/notifications', { email: 'user1@example.com' })).body.mutedConversationIds, [conversationId])
    assert.deepEqual(await pushes(), [])
  })

  test('muting a conversation one is not part of is 403', async () => {
    const { status } = await stack.api(`/conversations/${conversationId}/notifications`, {
      method: 'PUT',
      email: 'user2@example.com',
      body: { muted: true },
    })

    assert.equal(status, 403)
  })
})

describe('endpoints SNS no longer serves', () => {
  test('a disabled or deleted endpoint is marked disabled and skipped; registering again re-enables it', async () => {
    await register('user1@example.com', 'ios', 'ios-token-disabled')
    await register('user1@example.com', 'android', 'android-token-gone')
    await register('user1@example.com', 'ios', 'ios-token-fine')
    const edge = stack.aws
    assert.ok(edge, 'the in-process AWS edge')
    edge.sns.setEndpointEnabled(await endpointOf('ios-token-disabled'), false)
    const sns = new SNSClient({ endpoint: stack.awsUrl, region: 'us-east-1' })
    await sns.send(new DeleteEndpointCommand({ EndpointArn: await endpointOf('android-token-gone') }))
    sns.destroy()

    await trainerSends()
    const devices = (await stack.api('/devices', { email: 'user1@example.com' })).body.devices as Array<{ tokenHint: string; enabled: boolean }>
    stack.statements.length = 0
    await trainerSends()
    const statementsOnceMarked = stack.statements.length
    await register('user1@example.com', 'ios', 'ios-token-disabled')
    await fetch(`${stack.awsUrl}/_aws/sns/platform-endpoint-messages`, { method: 'DELETE' })
    await trainerSends()

    assert.deepEqual(Object.fromEntries(devices.map((d) => [d.tokenHint, d.enabled])), {
      '…bled': false,
      '…gone': false,
      '…fine': true,
    })
    assert.equal(statementsOnceMarked, 1, 'nothing left to mark: the disabled endpoints were not tried')
    assert.deepEqual((await pushes()).map((p) => p.TargetArn).sort(), [await endpointOf('ios-token-disabled'), await endpointOf('ios-token-fine')].sort())
  })
})

describe('when SNS fails', () => {
  test('the message is still stored and delivered, and the failure is logged with the message id', async () => {
    await register('user1@example.com', 'ios', 'ios-token-sns-down')
    const edge = stack.aws
    assert.ok(edge, 'the in-process AWS edge')
    const logged = await capturingWarnings(async () => {
      edge.sns.failNext(100)
      try {
        return await trainerSends({ body: 'sent while SNS is down' })
      } finally {
        edge.sns.failNext(0)
      }
    })

    const history = await stack.api(`/conversations/${conversationId}/messages`, { email: 'user1@example.com' })
    assert.equal(history.body.messages.at(-1).id, logged.result.id)
    assert.deepEqual(await pushes(), [])
    assert.equal((await stack.api('/devices', { email: 'user1@example.com' })).body.devices[0].enabled, true, 'an outage disables nothing')
    assert.ok(
      logged.lines.some((line) => line.message === 'push notification failed' && line.messageId === logged.result.id),
      JSON.stringify(logged.lines),
    )
  })

  test('registering a device answers 503 and plain messages keep flowing', async () => {
    const edge = stack.aws
    assert.ok(edge, 'the in-process AWS edge')
    edge.sns.failNext(100)
    try {
      const registered = await register('user1@example.com', 'ios', 'ios-token-during-outage')
      const message = await trainerSends({ body: 'no push service, no problem' })

      assert.equal(registered.status, 503)
      assert.equal(message.body, 'no push service, no problem')
    } finally {
      edge.sns.failNext(0)
    }
  })
})

/** Runs `act` with warnings logged (tests log errors only) and returns the JSON lines written to stderr. */
async function capturingWarnings<T>(act: () => Promise<T>): Promise<{ result: T; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const write = process.stderr.write.bind(process.stderr)
  // As fresh containers with LOG_LEVEL=warn would log.
  stack.reconfigure({ LOG_LEVEL: 'warn' })
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = chunk.toString()
    try {
      lines.push(JSON.parse(text) as Record<string, unknown>)
      return true
    } catch {
      return write(chunk, ...rest)
    }
  }) as typeof process.stderr.write
  try {
    return { result: await act(), lines }
  } finally {
    process.stderr.write = write
    stack.reconfigure({})
  }
}

describe('a device changing hands is recorded (#11 item 11)', () => {
  test('one audit-style line names both user ids and never the token', async () => {
    const lines: Array<{ message: string; fields: Record<string, unknown> | undefined }> = []
    const log = { warn: (message: string, fields?: Record<string, unknown>) => void lines.push({ message, fields }) }
    const notifier = { registerEndpoint: async () => 'arn:aws:sns:us-east-1:000000000000:endpoint/APNS/x/1', publish: async () => 'sent' as const, deleteEndpoint: async () => {} }
    const ports = { notifier, devices: createDeviceStore(stack.db) }
    const member = (email: string) => {
      const demo = DEMO_USERS.find((user) => user.email === email)
      if (!demo) throw new Error(email)
      return { subject: demo.subject, email, displayName: demo.displayName, groups: demo.groups }
    }
    await registerDevice(ports, member('user1@example.com'), { platform: 'ios', token: 'secret-token-1' }, log)
    assert.deepEqual(lines, [], 'a first registration is no move')

    await registerDevice(ports, member('user2@example.com'), { platform: 'ios', token: 'secret-token-1' }, log)

    const ids = await stack.db.selectFrom('users').select(['id', 'email']).where('email', 'in', ['user1@example.com', 'user2@example.com']).execute()
    const idOf = (email: string) => ids.find((row) => row.email === email)?.id
    assert.deepEqual(lines, [
      {
        message: 'push device moved to another user',
        fields: { audit: 'device.moved', fromUserId: idOf('user1@example.com'), toUserId: idOf('user2@example.com'), platform: 'ios' },
      },
    ])
    assert.ok(!JSON.stringify(lines).includes('secret-token-1'))
  })
})
