import {
  DeleteMessageFrame,
  EditMessageFrame,
  JoinConversationFrame,
  LeaveConversationFrame,
  MarkAsReadFrame,
  ReactFrame,
  SendMessageFrame,
  TypingFrame,
} from '@trainer-chat/protocol/server'
import type * as z from 'zod/mini'

/**
 * Every WebSocket route, declared once as data: the route key API Gateway selects on
 * (`$request.body.action`) and the Lambda function (lambdas/handlers/<name>.ts) behind it. The
 * CDK WebSocket API and the local WebSocket gateway both read this list. A client action's key is
 * the `action` its frame schema accepts, so the protocol and the routes cannot disagree.
 */

export interface WebSocketRouteDeclaration {
  /** `$connect`, `$disconnect`, `$default` or the value of `action` in the frame. */
  readonly key: string
  readonly handler: WebSocketHandlerName
}

export type WebSocketHandlerName =
  | 'ws-connect'
  | 'ws-disconnect'
  | 'ws-default'
  | 'ws-send-message'
  | 'ws-typing'
  | 'ws-mark-as-read'
  | 'ws-join-conversation'
  | 'ws-leave-conversation'
  | 'ws-edit-message'
  | 'ws-delete-message'
  | 'ws-react'

/** The one value a frame schema's `action` literal accepts. */
const action = (frame: { shape: { action: z.ZodMiniLiteral<string> } }): string => String(frame.shape.action.def.values[0])

export const WEBSOCKET_ROUTES: readonly WebSocketRouteDeclaration[] = [
  { key: '$connect', handler: 'ws-connect' },
  { key: '$disconnect', handler: 'ws-disconnect' },
  { key: '$default', handler: 'ws-default' },
  { key: action(JoinConversationFrame), handler: 'ws-join-conversation' },
  { key: action(LeaveConversationFrame), handler: 'ws-leave-conversation' },
  { key: action(SendMessageFrame), handler: 'ws-send-message' },
  { key: action(TypingFrame), handler: 'ws-typing' },
  { key: action(MarkAsReadFrame), handler: 'ws-mark-as-read' },
  { key: action(EditMessageFrame), handler: 'ws-edit-message' },
  { key: action(DeleteMessageFrame), handler: 'ws-delete-message' },
  { key: action(ReactFrame), handler: 'ws-react' },
]
