import { httpRoutes, splitRouteKey, type HttpRouteDeclaration, type HttpRouteName, type HTTP_ROUTES } from '../lambdas/http/routes.ts'
import { WEBSOCKET_ROUTES, type WebSocketRouteDeclaration } from '../lambdas/websocket/routes.ts'
import type { HandlerName } from './functions.ts'

/**
 * What deploying a route adds to its declaration (lambdas/http/routes.ts,
 * lambdas/websocket/routes.ts): its own throttle, and for a public route why it needs no token.
 */

/** An API Gateway stage or route limit: steady requests per second and burst. */
export interface ThrottleSettings {
  readonly rateLimit: number
  readonly burstLimit: number
}

/** Connection storms (a deploy, a network blip) each cost an authorizer and a connect invocation. */
const CONNECT_THROTTLE: ThrottleSettings = { rateLimit: 100, burstLimit: 200 }
/** Typing indicators are the chattiest frames and the least valuable to deliver. */
const TYPING_THROTTLE: ThrottleSettings = { rateLimit: 200, burstLimit: 400 }
/** Presigning is cheap, but every URL invites an upload we store for at least a day. */
const UPLOAD_THROTTLE: ThrottleSettings = { rateLimit: 20, burstLimit: 40 }
/** A handful of operators; a burst means a script or a stolen token. */
const ADMIN_THROTTLE: ThrottleSettings = { rateLimit: 10, burstLimit: 20 }

type PublicRouteName = { [N in HttpRouteName]: (typeof HTTP_ROUTES)[N]['access'] extends 'public' ? N : never }[HttpRouteName]

/** Why each public route needs no token; each becomes the cdk-nag APIG4 acknowledgement. A public route without one does not compile. */
const PUBLIC_BECAUSE: Record<PublicRouteName, string> = {
  health: 'Liveness probe for uptime monitors and deploy smoke tests; it answers a fixed status and reads no user data.',
  openApi: 'The API description client generators fetch; it documents routes (all of which check tokens) and holds no user data.',
}

const HTTP_THROTTLES: Partial<Record<HttpRouteName, ThrottleSettings>> = { requestUpload: UPLOAD_THROTTLE }
const WEBSOCKET_THROTTLES: Partial<Record<WebSocketRouteDeclaration['handler'], ThrottleSettings>> = {
  'ws-connect': CONNECT_THROTTLE,
  'ws-typing': TYPING_THROTTLE,
}

export interface DeployedHttpRoute extends HttpRouteDeclaration {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  readonly path: string
  readonly throttle?: ThrottleSettings
  readonly publicBecause?: string
}

export interface DeployedWebSocketRoute extends WebSocketRouteDeclaration {
  readonly throttle?: ThrottleSettings
}

export function deployedHttpRoutes(): DeployedHttpRoute[] {
  return httpRoutes().map((route) => {
    const { method, path } = splitRouteKey(route.key)
    const throttle = HTTP_THROTTLES[route.name] ?? (route.access === 'admin' ? ADMIN_THROTTLE : undefined)
    const publicBecause = (PUBLIC_BECAUSE as Partial<Record<HttpRouteName, string>>)[route.name]
    return {
      ...route,
      method: method as DeployedHttpRoute['method'],
      path,
      ...(throttle ? { throttle } : {}),
      ...(publicBecause ? { publicBecause } : {}),
    }
  })
}

export function deployedWebSocketRoutes(): DeployedWebSocketRoute[] {
  return WEBSOCKET_ROUTES.map((route) => {
    const throttle = WEBSOCKET_THROTTLES[route.handler]
    return { ...route, ...(throttle ? { throttle } : {}) }
  })
}

/** Every handler a route names is a deployed function (lib/functions.ts). */
const routeHandlersAreFunctions: HandlerName = '' as WebSocketRouteDeclaration['handler'] | HttpRouteDeclaration['handler']
void routeHandlersAreFunctions
