import type { MiddlewareObj } from '@middy/core'
import { JoinConversationFrame } from '@trainer-chat/protocol/server'
import type { Kysely } from 'kysely'
import type { Database } from '../adapters/database-schema.ts'
import { config } from '../config.ts'
import { joinConversation, type JoinPorts } from '../core/chat.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { attachmentStorage } from '../wiring/attachments.ts'
import { createBase, type Base } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `joinConversation`: subscribe this connection and answer with history. */
export const createJoinConversationHandler = (ports: JoinPorts, middlewares: MiddlewareObj[] = []) =>
  wsAction(JoinConversationFrame, joinConversation, ports, middlewares)

export function joinPorts(base: Base, db: Kysely<Database>): JoinPorts {
  return { ...chatPorts(base, db), storage: attachmentStorage(base) }
}

const base = createBase(config())
export const handler = createJoinConversationHandler(joinPorts(base, lambdaDatabase(base)), base.middlewares)
