import type { MiddlewareObj } from '@middy/core'
import { LeaveConversationFrame } from '@trainer-chat/protocol/server'
import { config } from '../config.ts'
import { leaveConversation, type ChatPorts } from '../core/chat.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `leaveConversation`: unsubscribe this connection. */
export const createLeaveConversationHandler = (ports: ChatPorts, middlewares: MiddlewareObj[] = []) => wsAction(LeaveConversationFrame, leaveConversation, ports, middlewares)

const base = createBase(config())
export const handler = createLeaveConversationHandler(chatPorts(base, lambdaDatabase(base)), base.middlewares)
