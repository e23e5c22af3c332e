import type { MiddlewareObj } from '@middy/core'
import { SendMessageFrame } from '@trainer-chat/protocol/server'
import type { Kysely } from 'kysely'
import type { Database } from '../adapters/database-schema.ts'
import { createDeviceStore } from '../adapters/device-store.ts'
import { config } from '../config.ts'
import { NO_PUSH } from '../core/push.ts'
import { sendMessage, type SendMessagePorts } from '../core/send-message.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { attachmentStorage } from '../wiring/attachments.ts'
import { createBase, type Base } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'
import { pushNotifier } from '../wiring/push.ts'

/** Route `sendMessage`: store the message once, then fan it out. */
export const createSendMessageHandler = (ports: SendMessagePorts, middlewares: MiddlewareObj[] = []) =>
  wsAction(SendMessageFrame, sendMessage, ports, middlewares)

export function sendMessagePorts(base: Base, db: Kysely<Database>): SendMessagePorts {
  return {
    ...chatPorts(base, db),
    storage: attachmentStorage(base),
    push: { notifier: pushNotifier(base) ?? NO_PUSH, devices: createDeviceStore(db) },
  }
}

const base = createBase(config())
export const handler = createSendMessageHandler(sendMessagePorts(base, lambdaDatabase(base)), base.middlewares)
