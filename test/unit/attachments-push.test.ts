import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { contentDisposition } from '../../lambdas/adapters/s3-storage.ts'
import { pushMessage } from '../../lambdas/adapters/sns-push.ts'
import { assertAttachmentUsable, cleanFileName, normalizeUpload, type AttachmentPolicy } from '../../lambdas/core/attachments.ts'
import { sendMessage, type SendMessagePorts } from '../../lambdas/core/send-message.ts'
import { ChatError } from '../../lambdas/core/errors.ts'
import type { StoredMessage } from '../../lambdas/core/model.ts'
import type { AttachmentStorage, ChatStore, DeviceStore, PushNotifier, PushTarget, SendMessageCommand } from '../../lambdas/core/ports.ts'
import { notificationFor, notifyOffline } from '../../lambdas/core/push.ts'
import { noMetrics, noPush, silentLog } from '../helpers/ports.ts'

/** Attachment and push rules with in-memory ports: no database, no AWS. */

const POLICY: AttachmentPolicy = { maxBytes: 1000, contentTypes: ['image/png', 'application/pdf'], useWithinSeconds: 60 }

const isCode = (code: string) => (error: unknown) => error instanceof ChatError && error.code === code

function stored(overrides: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id: 'msg-1',
    conversationId: 'conv-1',
    seq: 1,
    senderId: 'trainer-1',
    body: '',
    clientMessageId: 'c-1',
    createdAt: '2026-11-24T10:00:00.000Z',
    readAt: null,
    removed: false,
    attachment: null,
    editedAt: null,
    deletedAt: null,
    replyTo: null,
    reactions: [],
    ...overrides,
  }
}

const TARGET: PushTarget = {
  recipientId: 'member-1',
  senderName: 'Tara Trainer',
  unreadCount: 3,
  endpoints: [
    { endpointArn: 'arn:ios', platform: 'ios' },
    { endpointArn: 'arn:android', platform: 'android' },
  ],
}

describe('upload requests', () => {
  test('accept an allowed type in any case and a size up to the limit', () => {
    assert.deepEqual(normalizeUpload(POLICY, { fileName: 'a.PNG', contentType: ' Image/PNG ', size: 1000 }), {
      fileName: 'a.PNG',
      contentType: 'image/png',
      size: 1000,
    })
  })

  test('refuse other types, parameters included, and oversize files as bad_request', () => {
    assert.throws(() => normalizeUpload(POLICY, { fileName: 'a', contentType: 'text/html', size: 1 }), isCode('bad_request'))
    assert.throws(() => normalizeUpload(POLICY, { fileName: 'a', contentType: 'image/png; x=1', size: 1 }), isCode('bad_request'))
    assert.throws(() => normalizeUpload(POLICY, { fileName: 'a', contentType: 'image/png', size: 1001 }), isCode('bad_request'))
  })

  test('keep only the last path segment of a file name, without control characters', () => {
    assert.equal(cleanFileName('C:\\photos\\..\\me\u0000.png'), 'me.png')
    assert.equal(cleanFileName('../../etc/passwd'), 'passwd')
    assert.throws(() => cleanFileName('photos/'), isCode('bad_request'))
    assert.equal([...cleanFileName(`${'x'.repeat(300)}.pdf`)].length, 255)
  })
})

describe('attachment verdicts', () => {
  test('map to the refusal the sender sees', () => {
    const expected = {
      not_found: 'not_found',
      forbidden: 'forbidden',
      used: 'conflict',
      expired: 'bad_request',
      not_uploaded: 'bad_request',
      type_mismatch: 'bad_request',
      size_mismatch: 'bad_request',
    } as const
    for (const [verdict, code] of Object.entries(expected)) {
      assert.throws(() => assertAttachmentUsable(verdict as keyof typeof expected), isCode(code), verdict)
    }
    assertAttachmentUsable('ok')
    assertAttachmentUsable('none')
  })
})

describe('sendMessage with an attachment', () => {
  function ports(head: AttachmentStorage['head']) {
    const commands: SendMessageCommand[] = []
    const store = {
      async sendMessage(command: SendMessageCommand) {
        commands.push(command)
        return { verdict: 'ok', userId: 'member-1', message: null, duplicate: false, listeners: [], attachmentVerdict: 'not_uploaded', push: null }
      },
    } as unknown as ChatStore
    const storage: AttachmentStorage = {
      head,
      presignUpload: async () => assert.fail('no upload'),
      presignDownload: async () => 'https://download',
      delete: async () => {},
    }
    const value: SendMessagePorts = {
      store,
      storage,
      delivery: { post: async () => ({ gone: [], failed: [] }), disconnect: async () => {} },
      log: silentLog,
    metrics: noMetrics,
      push: noPush,
    }
    return { value, commands }
  }

  test('asks storage under the server-chosen key and hands what it found to the store', async () => {
    const keys: string[] = []
    const { value, commands } = ports(async (key) => {
      keys.push(key)
      return null
    })

    await assert.rejects(
      sendMessage(value, { connectionId: 'c' }, { conversationId: 'conv-1', clientMessageId: 'x', attachmentId: 'att-1' }),
      isCode('bad_request'),
    )
    assert.deepEqual(keys, ['conversations/conv-1/att-1'])
    assert.deepEqual(commands[0]?.attachment, { id: 'att-1', object: null })
    assert.equal(commands[0]?.body, '')
  })

  test('answers unavailable when storage cannot be asked, before touching the store', async () => {
    const { value, commands } = ports(async () => {
      throw new Error('SlowDown')
    })

    await assert.rejects(
      sendMessage(value, { connectionId: 'c' }, { conversationId: 'conv-1', clientMessageId: 'x', attachmentId: 'att-1' }),
      isCode('unavailable'),
    )
    assert.equal(commands.length, 0)
  })
})

describe('push notifications', () => {
  test('say who wrote and a preview, or what was sent', () => {
    assert.equal(notificationFor(stored({ body: 'hi' }), TARGET, 'hi').body, 'hi')
    const photo = stored({ attachment: { id: 'a', fileName: 'a.png', contentType: 'image/png', size: 1 } })
    assert.equal(notificationFor(photo, TARGET, '').body, 'sent a photo')
    const file = stored({ attachment: { id: 'a', fileName: 'a.pdf', contentType: 'application/pdf', size: 1 } })
    assert.deepEqual(notificationFor(file, TARGET, ''), {
      title: 'Tara Trainer',
      body: 'sent a file',
      conversationId: 'conv-1',
      messageId: 'msg-1',
      badge: 3,
    })
  })

  test('render APNs and FCM v1 payloads as JSON strings, as MessageStructure=json requires', () => {
    const message = JSON.parse(pushMessage({ title: 'T', body: 'B', conversationId: 'c', messageId: 'm', badge: 2 })) as Record<string, string>

    assert.deepEqual(Object.keys(message).sort(), ['APNS', 'APNS_SANDBOX', 'GCM', 'default'])
    assert.ok(Object.values(message).every((value) => typeof value === 'string'))
    assert.deepEqual(JSON.parse(message['APNS'] as string).aps.alert, { title: 'T', body: 'B' })
    assert.equal(JSON.parse(message['GCM'] as string).fcmV1Message.message.data.badge, '2')
  })

  test('mark endpoints reported gone and log other failures without throwing', async () => {
    const disabled: string[] = []
    const warnings: Array<Record<string, unknown> | undefined> = []
    const notifier: PushNotifier = {
      registerEndpoint: async () => assert.fail('not registering'),
      deleteEndpoint: async () => {},
      async publish(endpoint) {
        if (endpoint.platform === 'ios') return 'endpoint_disabled'
        throw new Error('InternalError')
      },
    }
    const devices = { disable: async (arns: readonly string[]) => void disabled.push(...arns) } as unknown as DeviceStore

    await notifyOffline({ notifier, devices }, stored({ body: 'x' }), TARGET, 'x', { warn: (_, fields) => void warnings.push(fields) })

    assert.deepEqual(disabled, ['arn:ios'])
    assert.equal(warnings.length, 1)
    assert.equal(warnings[0]?.messageId, 'msg-1')
  })
})

describe('download names', () => {
  test('keep the exact UTF-8 name and an ASCII fallback', () => {
    assert.equal(contentDisposition('Plan "März".pdf'), `attachment; filename="Plan _M_rz_.pdf"; filename*=UTF-8''Plan%20%22M%C3%A4rz%22.pdf`)
  })
})
