import { sendMessage } from '../core/chat.ts'
import { SendMessageFrame } from '../core/protocol.ts'
import { messagingPorts } from '../runtime-messaging.ts'
import { wsAction } from './ws-route.ts'

/** Route `sendMessage`: store the message once, then fan it out. */
export const { handle: sendMessageRoute, handler } = wsAction(SendMessageFrame, sendMessage, messagingPorts)
