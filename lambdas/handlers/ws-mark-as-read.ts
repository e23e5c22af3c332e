import { markAsRead } from '../core/chat.ts'
import { MarkAsReadFrame } from '../core/protocol.ts'
import { wsAction } from './ws-route.ts'

/** Route `markAsRead`: mark the other participant's messages read up to one message. */
export const { handle: markAsReadRoute, handler } = wsAction(MarkAsReadFrame, markAsRead)
