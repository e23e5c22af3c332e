import type { MiddlewareObj } from '@middy/core'
import { DeleteMessageFrame } from '@trainer-chat/protocol/server'
import { config } from '../config.ts'
import type { ChatPorts } from '../core/chat.ts'
import { deleteMessage } from '../core/message-actions.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `deleteMessage`: the sender deletes a message (it keeps its seq); joined connections get `messageDeleted`. */
export const createDeleteMessageHandler = (ports: ChatPorts, middlewares: MiddlewareObj[] = []) =>
  wsAction(DeleteMessageFrame, deleteMessage, ports, middlewares)

const base = createBase(config())
export const handler = createDeleteMessageHandler(chatPorts(base, lambdaDatabase(base)), base.middlewares)
