import type { MiddlewareObj } from '@middy/core'
import { MarkAsReadFrame } from '@trainer-chat/protocol/server'
import { config } from '../config.ts'
import { markAsRead, type ChatPorts } from '../core/chat.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `markAsRead`: mark the other participant's messages read up to one message. */
export const createMarkAsReadHandler = (ports: ChatPorts, middlewares: MiddlewareObj[] = []) => wsAction(MarkAsReadFrame, markAsRead, ports, middlewares)

const base = createBase(config())
export const handler = createMarkAsReadHandler(chatPorts(base, lambdaDatabase(base)), base.middlewares)
