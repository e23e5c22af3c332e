import type { MiddlewareObj } from '@middy/core'
import { EditMessageFrame } from '@trainer-chat/protocol/server'
import type { Kysely } from 'kysely'
import type { Database } from '../adapters/database-schema.ts'
import { config } from '../config.ts'
import { editMessage, type EditMessagePorts } from '../core/message-actions.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { attachmentStorage } from '../wiring/attachments.ts'
import { createBase, type Base } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `editMessage`: the sender rewrites a message inside the edit window; joined connections get `messageUpdated`. */
export const createEditMessageHandler = (ports: EditMessagePorts, middlewares: MiddlewareObj[] = []) =>
  wsAction(EditMessageFrame, editMessage, ports, middlewares)

export function editMessagePorts(base: Base, db: Kysely<Database>): EditMessagePorts {
  return { ...chatPorts(base, db), storage: attachmentStorage(base), editWindowSeconds: base.config.messages.editWindowSeconds }
}

const base = createBase(config())
export const handler = createEditMessageHandler(editMessagePorts(base, lambdaDatabase(base)), base.middlewares)
