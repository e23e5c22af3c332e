import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import type { ChatStore } from '../lambdas/core/ports.ts'
import { createBase } from '../lambdas/wiring/base.ts'
import { chatStore } from '../lambdas/wiring/database.ts'
import type { APIGatewayAuthorizerResult } from 'aws-lambda'
import { invoke, type LambdaHandler } from '@trainer-chat/aws-edge'
import type { BenchStack, BenchUser, Pair } from './bench-stack.ts'
import { connectionIdsOf } from './bench-stack.ts'
import type { ClientPool } from './client-pool.ts'
import {
  authorizerContext,
  authorizerEvent,
  connectEvent,
  disconnectEvent,
  messageEvent,
  type Endpoint,
  type WebSocketAuthorizerEvent,
} from './events.ts'

/**
 * The real handler modules (the ones Lambda runs) invoked in-process with API Gateway events,
 * for one member and their trainer who each hold a live WebSocket connection (in the client
 * worker) joined to their conversation, so fan-out goes through the local Management API to
 * real sockets. Also the floor: one bare INSERT … RETURNING of a message row.
 */

export type Action = 'sendMessage' | 'typing' | 'markAsRead' | 'joinConversation' | 'leaveConversation'

export const MESSAGE_BODY = 'Great session today! Same time on Thursday, and remember to stretch.'

export interface Participant {
  user: BenchUser
  key: string
  connectionId: string
  authorizer: Record<string, unknown>
  token: string
}

export interface Invoker {
  endpoint: Endpoint
  pair: Pair
  member: Participant
  trainer: Participant
  store: ChatStore
  db: Kysely<Database>
  /** Invokes a route handler as API Gateway would for a frame on `who`'s connection. */
  route(action: Action, who: Participant, frame: Record<string, unknown>): Promise<void>
  /**
   * The same invocation with its event built beforehand (API Gateway's work, not the handler's,
   * so a timed section can leave it out): call the result to invoke. `handler` replaces the
   * stack's handler for the action (one built on other ports).
   */
  prepareRoute(action: Action, who: Participant, frame: Record<string, unknown>, handler?: LambdaHandler): () => Promise<void>
  /** The `$connect` authorizer then the `$connect` route for a new connection id; returns it and the authorizer's time. */
  connect(who: Participant): Promise<{ connectionId: string; authorizerMs: number }>
  disconnect(who: Participant, connectionId: string): Promise<void>
  /** One bare INSERT … RETURNING of a message row like the ones sendMessage stores. */
  floor(): Promise<void>
  newConnectionId(): string
}

const FUNCTION_NAMES = {
  sendMessage: 'ws-send-message',
  typing: 'ws-typing',
  markAsRead: 'ws-mark-as-read',
  joinConversation: 'ws-join-conversation',
  leaveConversation: 'ws-leave-conversation',
} as const satisfies Record<Action, string>

export async function createInvoker(bench: BenchStack, pool: ClientPool, prefix: string): Promise<Invoker> {
  const { stack } = bench
  const db = stack.db
  // The handlers the local stack built (the factories Lambda's modules bind), on the stack's database.
  const handlers = stack.handlers()
  const authorizerHandler = handlers['ws-authorizer'] as LambdaHandler<WebSocketAuthorizerEvent, APIGatewayAuthorizerResult>
  const connectHandler = handlers['ws-connect']
  const disconnectHandler = handlers['ws-disconnect']
  const [pair] = await bench.createPairs(prefix, 1)
  const [floorPair] = await bench.createPairs(`${prefix}-floor`, 1)
  if (!pair || !floorPair) throw new Error('could not create the bench users')
  const endpoint: Endpoint = { domainName: `127.0.0.1:${stack.ws.port}` }

  const participant = async (user: BenchUser, key: string): Promise<Participant> => {
    const token = await bench.token(user)
    await pool.open(`${stack.wsUrl}/local`, [{ key, token }])
    const [connectionId] = await connectionIdsOf(db, user.id)
    if (!connectionId) throw new Error(`${key} has no connection row`)
    // The authorizer context API Gateway would attach to this connection's events.
    const result = await invoke(authorizerHandler, authorizerEvent(endpoint, connectionId, token), 'ws-authorizer')
    return { user, key, connectionId, authorizer: authorizerContext(result), token }
  }
  const member = await participant(pair.member, `${prefix}-member`)
  const trainer = await participant(pair.trainer, `${prefix}-trainer`)
  await pool.join([
    { key: member.key, conversationId: pair.conversationId },
    { key: trainer.key, conversationId: pair.conversationId },
  ])

  let floorSeq = 0
  let floorId = 0
  const floorRun = `${Date.now()}`

  return {
    endpoint,
    pair,
    member,
    trainer,
    store: chatStore(createBase(stack.config(), { lambda: false }), db),
    db,
    async route(action, who, frame) {
      const event = messageEvent(endpoint, who.connectionId, { action, ...frame }, who.authorizer)
      await invoke(handlers[FUNCTION_NAMES[action]], event, FUNCTION_NAMES[action])
    },
    prepareRoute(action, who, frame, handler = handlers[FUNCTION_NAMES[action]]) {
      const event = messageEvent(endpoint, who.connectionId, { action, ...frame }, who.authorizer)
      return async () => {
        await invoke(handler, event, FUNCTION_NAMES[action])
      }
    },
    async connect(who) {
      const connectionId = randomBytes(12).toString('base64')
      const started = performance.now()
      const allowed = await invoke(authorizerHandler, authorizerEvent(endpoint, connectionId, who.token), 'ws-authorizer')
      const authorizerMs = performance.now() - started
      const reply = await invoke(connectHandler, connectEvent(endpoint, connectionId, who.token, authorizerContext(allowed)), 'ws-connect')
      if (reply.statusCode !== 200) throw new Error(`$connect answered ${reply.statusCode}: ${reply.body ?? ''}`)
      return { connectionId, authorizerMs }
    },
    async disconnect(who, connectionId) {
      await invoke(disconnectHandler, disconnectEvent(endpoint, connectionId, who.authorizer), 'ws-disconnect')
    },
    async floor() {
      await db
        .insertInto('messages')
        .values({
          conversation_id: floorPair.conversationId,
          seq: ++floorSeq,
          sender_id: floorPair.member.id,
          body: MESSAGE_BODY,
          client_message_id: `floor-${floorRun}-${floorId++}`,
        })
        .returningAll()
        .execute()
    },
    newConnectionId: () => randomBytes(12).toString('base64'),
  }
}
