import { typing } from '../core/chat.ts'
import { TypingFrame } from '../core/protocol.ts'
import { wsAction } from './ws-route.ts'

/** Route `typing`: relay the indicator to the other participant; nothing is stored. */
export const { handle: typingRoute, handler } = wsAction(TypingFrame, typing)
