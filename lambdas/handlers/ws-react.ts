import type { MiddlewareObj } from '@middy/core'
import { ReactFrame } from '@trainer-chat/protocol/server'
import type { Kysely } from 'kysely'
import type { Database } from '../adapters/database-schema.ts'
import { config } from '../config.ts'
import { react, type ReactPorts } from '../core/message-actions.ts'
import { wsAction } from '../websocket/toolkit.ts'
import { createBase, type Base } from '../wiring/base.ts'
import { chatPorts, lambdaDatabase } from '../wiring/database.ts'

/** Route `react`: add or take back an emoji reaction; joined connections get `reactionChanged`. */
export const createReactHandler = (ports: ReactPorts, middlewares: MiddlewareObj[] = []) =>
  wsAction(ReactFrame, react, ports, middlewares)

export function reactPorts(base: Base, db: Kysely<Database>): ReactPorts {
  return { ...chatPorts(base, db), reactionEmoji: base.config.messages.reactionEmoji }
}

const base = createBase(config())
export const handler = createReactHandler(reactPorts(base, lambdaDatabase(base)), base.middlewares)
