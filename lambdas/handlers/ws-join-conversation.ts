import { joinConversation } from '../core/chat.ts'
import { JoinConversationFrame } from '../core/protocol.ts'
import { messagingPorts } from '../runtime-messaging.ts'
import { wsAction } from './ws-route.ts'

/** Route `joinConversation`: subscribe this connection and answer with history. */
export const { handle: joinConversationRoute, handler } = wsAction(JoinConversationFrame, joinConversation, messagingPorts)
