import { leaveConversation } from '../core/chat.ts'
import { LeaveConversationFrame } from '../core/protocol.ts'
import { wsAction } from './ws-route.ts'

/** Route `leaveConversation`: unsubscribe this connection. */
export const { handle: leaveConversationRoute, handler } = wsAction(LeaveConversationFrame, leaveConversation)
