import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import type * as z from 'zod/mini'
import { callerRefusal } from '../adapters/users-upsert.ts'
import { ChatError, describeError, nulIssues, publicError, validationIssues } from '../core/errors.ts'
import { DEFAULT_TOKEN_AGE_POLICY, identityFromTokenClaims, type TokenAgePolicy } from '../core/identity.ts'
import type { Identity } from '../core/model.ts'
import type { Log } from '../core/ports.ts'
import { HTTP_ROUTES, type HttpHandlerName, type HttpRouteDeclaration, type HttpRouteName } from './routes.ts'

/**
 * The toolkit HTTP handlers are built with: an HTTP API Lambda serves the routes declared for it
 * in routes.ts, each implemented by one function that receives validated input.
 */

/** The part of an API Gateway HTTP API (payload 2.0) event our handlers read. */
export interface HttpEvent {
  version?: string
  routeKey: string
  rawPath?: string
  rawQueryString?: string
  headers?: Record<string, string | undefined>
  queryStringParameters?: Record<string, string | undefined> | null
  pathParameters?: Record<string, string | undefined> | null
  body?: string | null
  isBase64Encoded?: boolean
  requestContext: {
    requestId?: string
    http?: { method: string; path: string; sourceIp?: string }
    authorizer?: { jwt?: { claims: Record<string, unknown>; scopes?: string[] | null } } | null
  }
}

export interface HttpResult {
  statusCode: number
  headers: Record<string, string>
  body: string
}

type Infer<S> = S extends z.ZodMiniType ? z.infer<S> : undefined

/** What a route's implementation receives: its params, query and body as its schemas parse them. */
export interface RouteInput<R> {
  params: R extends { params: infer S } ? Infer<S> : Record<string, never>
  query: R extends { query: infer S } ? Infer<S> : Record<string, never>
  body: R extends { body: infer S } ? Infer<S> : undefined
  identity: Identity
}

export type RouteImplementation<N extends HttpRouteName> = (
  input: RouteInput<(typeof HTTP_ROUTES)[N]>,
) => Promise<{ status?: number; body: unknown }>

/** The routes a handler serves, by name. */
export type RoutesOf<H extends HttpHandlerName> = {
  [N in HttpRouteName]: (typeof HTTP_ROUTES)[N]['handler'] extends H ? N : never
}[HttpRouteName]

/** One implementation for each route declared for the handler `H`: the compiler refuses a missing or extra one. */
export type Implementations<H extends HttpHandlerName> = { [N in RoutesOf<H>]: RouteImplementation<N> }

const ANONYMOUS: Identity = { subject: '', email: '', displayName: '', groups: [] }

/**
 * Builds one Lambda handler serving the routes declared for `handlerName`: dispatch on
 * `routeKey` (API Gateway has already matched the path), validate params, query and body with
 * the route's schemas, run it, and map refusals to `{error: {code, message, details}}`.
 */
export function httpApi<H extends HttpHandlerName>(
  handlerName: H,
  implementations: Implementations<H>,
  options: { log: Log; tokenAge?: TokenAgePolicy | undefined },
  middlewares: middy.MiddlewareObj[] = [],
) {
  const byKey = new Map<string, { route: HttpRouteDeclaration; run: RouteImplementation<HttpRouteName> }>()
  for (const [name, route] of Object.entries(HTTP_ROUTES) as Array<[HttpRouteName, HttpRouteDeclaration]>) {
    if (route.handler !== handlerName) continue
    byKey.set(route.key, { route, run: (implementations as Record<string, RouteImplementation<HttpRouteName>>)[name] as RouteImplementation<HttpRouteName> })
  }

  async function handle(event: HttpEvent): Promise<HttpResult> {
    const matched = byKey.get(event.routeKey)
    if (!matched) throw new ChatError('not_found', `No route ${event.routeKey}`)
    const { route, run } = matched
    const identity = route.access === 'public' ? ANONYMOUS : identityFromClaims(event.requestContext.authorizer?.jwt?.claims, options.tokenAge)
    const params = validate(route.params, event.pathParameters ?? {}, 'path')
    const query = validate(route.query, event.queryStringParameters ?? {}, 'query')
    const body = route.body ? validate(route.body, parseJsonBody(event), 'body') : undefined
    const result = await run({ params, query, body, identity } as RouteInput<(typeof HTTP_ROUTES)[HttpRouteName]>)
    return json(result.status ?? route.successStatus ?? 200, result.body)
  }

  return { handle, handler: middy<HttpEvent, HttpResult, Error, Context>(handle).use(middlewares).use(errorBodies(options)) }
}

export function json(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  }
}

function validate(schema: z.ZodMiniType | undefined, value: unknown, where: 'path' | 'query' | 'body'): never {
  if (!schema) return {} as never
  const result = schema.safeParse(value)
  const nul = nulIssues(value, where)
  if (result.success && nul.length === 0) return result.data as never
  const details = result.success ? nul : validationIssues(result.error.issues, where)
  const fields = details.map((d) => `${d.in}${d.path ? `.${d.path}` : ''}`).join(', ')
  throw new ChatError('bad_request', `Invalid request: ${fields}`, { issues: details })
}

function parseJsonBody(event: HttpEvent): unknown {
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '')
  try {
    return JSON.parse(raw)
  } catch {
    throw new ChatError('bad_request', 'Request body must be valid JSON')
  }
}

/**
 * The identity API Gateway's JWT authorizer verified, by the same rule as the WebSocket
 * authorizer's (core/identity.ts: token age, subject, verified email, clean name); API Gateway
 * checks signature, issuer, audience and expiry but not the token's age. HTTP APIs flatten array
 * claims into a string such as "[admin trainer]" (and numbers and booleans into strings), so
 * groups are accepted in both shapes. Cognito group names hold no whitespace but may hold commas,
 * so the flattened form is split on single spaces only, and only when it is bracketed:
 * `coaches,admin` stays one (non-admin) group.
 */
export function identityFromClaims(claims: Record<string, unknown> | undefined, tokenAge: TokenAgePolicy = DEFAULT_TOKEN_AGE_POLICY): Identity {
  if (!claims) throw new ChatError('unauthorized', 'Missing or invalid token')
  const rawGroups = claims['cognito:groups']
  const groups = Array.isArray(rawGroups)
    ? rawGroups.filter((g): g is string => typeof g === 'string')
    : typeof rawGroups === 'string'
      ? parseFlattenedGroups(rawGroups)
      : []
  const { subject, email, displayName, groups: safeGroups } = identityFromTokenClaims(claims, groups, tokenAge)
  return { subject, email, displayName, groups: safeGroups }
}

/** The HTTP API's flattened array claim, "[a b]", parsed exactly; anything else is no group. */
export function parseFlattenedGroups(flattened: string): string[] {
  if (!flattened.startsWith('[') || !flattened.endsWith(']')) return []
  const inner = flattened.slice(1, -1)
  return inner === '' ? [] : inner.split(' ').filter(Boolean)
}

/** Middleware: any error becomes the JSON error body of its public error; unexpected ones are logged. */
export function errorBodies(options: { log: Log }): middy.MiddlewareObj<HttpEvent, HttpResult> {
  return {
    onError: async (request) => {
      // A disabled caller's statement fails as a whole in the database (adapters/users-upsert.ts).
      const { error, unexpected } = publicError(callerRefusal(request.error) ?? request.error)
      if (unexpected) options.log.error('unhandled error in HTTP route', { routeKey: request.event.routeKey, ...describeError(request.error) })
      request.response = json(error.status, {
        error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
      })
    },
  }
}
