import type { MiddlewareObj } from '@middy/core'
import { TypingFrame } from '@trainer-chat/protocol/server'
import { config } from '../config.ts'
import { typing, type TypingPorts } from '../core/chat.ts'
import { createThrottle } from '../core/throttle.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { createBase } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `typing`: relay the indicator to the other participant; nothing is stored. */
export const createTypingHandler = (ports: TypingPorts, middlewares: MiddlewareObj[] = []) => wsAction(TypingFrame, typing, ports, middlewares)

const base = createBase(config())
export const handler = createTypingHandler({ ...chatPorts(base, lambdaDatabase(base)), typingThrottle: createThrottle(base.config.typingRateLimit) }, base.middlewares)
