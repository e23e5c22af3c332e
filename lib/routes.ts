/**
 * The one list of every Lambda handler and every API route. The WebSocket API, the HTTP API, the
 * functions, their permissions and the alarms are all generated from it; adding a route is one
 * line here (plus the handler file).
 */

/** What a function is allowed to reach. Each capability maps to env vars and IAM grants in one place (lib/stateless-stack.ts). */
export type Capability =
  /** RDS Proxy with IAM auth: DB_* env + rds-db:connect. */
  | 'database'
  /** Post to / inspect / drop WebSocket connections: CONNECTIONS_ENDPOINT + execute-api:ManageConnections. */
  | 'connections'
  /** Attachment objects under conversations/: ATTACHMENTS_BUCKET + s3 object grants. */
  | 'attachments'
  /** SNS mobile push: PUSH_* env + endpoint management and publish. */
  | 'push'
  /** Verify Cognito tokens: JWT_* env (the token is verified in code, not by API Gateway). */
  | 'jwt'

export interface FunctionSpec {
  /** File name under lambdas/handlers/ without `.ts`; also the function's construct id. */
  readonly handler: string
  readonly description: string
  readonly capabilities: readonly Capability[]
  readonly memoryMiB?: number
  readonly timeoutSeconds?: number
  /**
   * Run outside the VPC. Only for functions that touch no VPC resource; see the authorizer below.
   * @default false
   */
  readonly outsideVpc?: boolean
  /** Invoke on a fixed schedule (EventBridge), every this many minutes. */
  readonly everyMinutes?: number
}

const apiFunction = (handler: string, description: string, ...extra: Capability[]): FunctionSpec => ({
  handler,
  description,
  capabilities: ['database', 'connections', 'jwt', ...extra],
})

export const FUNCTIONS = [
  {
    handler: 'ws-authorizer',
    description: 'WebSocket $connect authorizer: verifies the Cognito token from the header or ?token=',
    capabilities: ['jwt'],
    memoryMiB: 256,
    // It reads only the token and Cognito's public JWKS: keeping it out of the VPC gives it no network
    // path to the database and keeps sign-in working even if the NAT gateway is down.
    outsideVpc: true,
  },
  apiFunction('ws-connect', 'WebSocket $connect: registers the connection'),
  apiFunction('ws-disconnect', 'WebSocket $disconnect: forgets the connection'),
  apiFunction('ws-default', 'WebSocket $default: answers unknown actions'),
  apiFunction('ws-send-message', 'WebSocket sendMessage', 'attachments', 'push'),
  apiFunction('ws-typing', 'WebSocket typing'),
  apiFunction('ws-mark-as-read', 'WebSocket markAsRead'),
  apiFunction('ws-join-conversation', 'WebSocket joinConversation'),
  apiFunction('ws-leave-conversation', 'WebSocket leaveConversation'),
  apiFunction('http-app', 'HTTP API: app routes', 'attachments', 'push'),
  apiFunction('http-admin', 'HTTP API: admin routes (role checked against the database)'),
  {
    handler: 'attachments-sweep',
    description: 'Scheduled: deletes objects and rows of uploads no message references once they can no longer be sent',
    capabilities: ['database', 'attachments'],
    timeoutSeconds: 120,
    everyMinutes: 60,
  },
  {
    handler: 'migrate',
    description: 'Applies Kysely migrations; invoked by the deployment before the APIs take traffic',
    capabilities: ['database'],
    memoryMiB: 512,
    timeoutSeconds: 300,
  },
] as const satisfies readonly FunctionSpec[]

export type HandlerName = (typeof FUNCTIONS)[number]['handler']

export interface Throttle {
  readonly rateLimit: number
  readonly burstLimit: number
}

export interface WebSocketRouteSpec {
  readonly api: 'websocket'
  /** `$connect`, `$disconnect`, `$default` or the value of `action` in the message body. */
  readonly routeKey: string
  readonly handler: HandlerName
  /** Per-route limit; otherwise the stage default applies. */
  readonly throttle?: Throttle
}

/**
 * - `public`: no authorizer (health check, OpenAPI document).
 * - `user`: Cognito JWT authorizer (signature, issuer, audience, expiry checked by API Gateway).
 * - `admin`: the same JWT authorizer; the admin role is enforced by the handler against the database
 *   (see "Admin routes" in docs/deploy.md for why not at the gateway).
 */
export type HttpAccess = 'public' | 'user' | 'admin'
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE'

export interface HttpRouteSpec {
  readonly api: 'http'
  readonly method: HttpMethod
  readonly path: string
  readonly handler: HandlerName
  readonly access: HttpAccess
  readonly throttle?: Throttle
  /** Why a `public` route needs no token (it becomes the cdk-nag APIG4 acknowledgement). */
  readonly publicBecause?: string
}

export type RouteSpec = WebSocketRouteSpec | HttpRouteSpec

const ws = (routeKey: string, handler: HandlerName, throttle?: Throttle): WebSocketRouteSpec => ({
  api: 'websocket',
  routeKey,
  handler,
  ...(throttle ? { throttle } : {}),
})
const http = (
  method: HttpMethod,
  path: string,
  access: HttpAccess,
  options: { throttle?: Throttle; publicBecause?: string } = {},
): HttpRouteSpec => ({
  api: 'http',
  method,
  path,
  handler: access === 'admin' ? 'http-admin' : 'http-app',
  access,
  ...options,
})

/** Connection storms (a deploy, a network blip) each cost an authorizer and a connect invocation. */
const CONNECT_THROTTLE: Throttle = { rateLimit: 100, burstLimit: 200 }
/** Typing indicators are the chattiest frames and the least valuable to deliver. */
const TYPING_THROTTLE: Throttle = { rateLimit: 200, burstLimit: 400 }
/** Presigning is cheap, but every URL invites an upload we store for at least a day. */
const UPLOAD_THROTTLE: Throttle = { rateLimit: 20, burstLimit: 40 }
/** A handful of operators; a burst means a script or a stolen token. */
const ADMIN_THROTTLE: Throttle = { rateLimit: 10, burstLimit: 20 }

export const ROUTES: readonly RouteSpec[] = [
  ws('$connect', 'ws-connect', CONNECT_THROTTLE),
  ws('$disconnect', 'ws-disconnect'),
  ws('$default', 'ws-default'),
  ws('sendMessage', 'ws-send-message'),
  ws('typing', 'ws-typing', TYPING_THROTTLE),
  ws('markAsRead', 'ws-mark-as-read'),
  ws('joinConversation', 'ws-join-conversation'),
  ws('leaveConversation', 'ws-leave-conversation'),

  http('GET', '/health', 'public', {
    publicBecause: 'Liveness probe for uptime monitors and deploy smoke tests; it answers a fixed status and reads no user data.',
  }),
  http('GET', '/openapi.json', 'public', {
    publicBecause: 'The API description client generators fetch; it documents routes (all of which check tokens) and holds no user data.',
  }),
  http('GET', '/me', 'user'),
  http('GET', '/conversations', 'user'),
  http('GET', '/conversations/{id}/messages', 'user'),
  http('POST', '/conversations/{id}/attachments', 'user', { throttle: UPLOAD_THROTTLE }),
  http('POST', '/devices', 'user'),
  http('GET', '/devices', 'user'),
  http('DELETE', '/devices/{token}', 'user'),
  http('GET', '/me/notifications', 'user'),
  http('PUT', '/me/notifications', 'user'),
  http('PUT', '/conversations/{id}/notifications', 'user'),

  http('GET', '/admin/conversations', 'admin', { throttle: ADMIN_THROTTLE }),
  http('GET', '/admin/conversations/{id}/messages', 'admin', { throttle: ADMIN_THROTTLE }),
  http('POST', '/admin/conversations/{id}/close', 'admin', { throttle: ADMIN_THROTTLE }),
  http('POST', '/admin/conversations/{id}/reopen', 'admin', { throttle: ADMIN_THROTTLE }),
  http('GET', '/admin/users', 'admin', { throttle: ADMIN_THROTTLE }),
  http('PUT', '/admin/users/{id}/trainer', 'admin', { throttle: ADMIN_THROTTLE }),
  http('PUT', '/admin/users/{id}/role', 'admin', { throttle: ADMIN_THROTTLE }),
  http('PUT', '/admin/users/{id}/disabled', 'admin', { throttle: ADMIN_THROTTLE }),
  http('DELETE', '/admin/messages/{id}', 'admin', { throttle: ADMIN_THROTTLE }),
  http('GET', '/admin/audit', 'admin', { throttle: ADMIN_THROTTLE }),
]

export const webSocketRoutes = (): WebSocketRouteSpec[] =>
  ROUTES.filter((route): route is WebSocketRouteSpec => route.api === 'websocket')
export const httpRoutes = (): HttpRouteSpec[] => ROUTES.filter((route): route is HttpRouteSpec => route.api === 'http')

/** API Gateway's route key for an HTTP route, e.g. `GET /conversations/{id}/messages`. */
export const httpRouteKey = (route: Pick<HttpRouteSpec, 'method' | 'path'>): string => `${route.method} ${route.path}`

/** The authorizer is not a route; it guards `$connect`. */
export const WEBSOCKET_AUTHORIZER: HandlerName = 'ws-authorizer'
export const MIGRATION_HANDLER: HandlerName = 'migrate'

export function functionSpec(handler: HandlerName): FunctionSpec {
  const spec = FUNCTIONS.find((candidate) => candidate.handler === handler)
  if (!spec) throw new Error(`No function spec for handler "${handler}"`)
  return spec
}
