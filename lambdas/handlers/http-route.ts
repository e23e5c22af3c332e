import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import * as z from 'zod/mini'
import { describeError, log } from '../adapters/logger.ts'
import { ChatError, isChatError, type ErrorCode } from '../core/errors.ts'
import type { Identity } from '../core/model.ts'
import { validationIssues } from './validation-issues.ts'

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

type Schema = z.ZodMiniType

export interface HttpRoute<P extends Schema = Schema, Q extends Schema = Schema, B extends Schema = Schema> {
  routeKey: string
  /** `none`: public; `user`: any verified token; `admin`: verified token and the admin role in the database. */
  auth: 'none' | 'user' | 'admin'
  summary: string
  params?: P
  query?: Q
  body?: B
  /** Schema of the success body, for the OpenAPI document. */
  response?: Schema
  successStatus?: number
  /**
   * Refusals particular to this route, for the OpenAPI document. The ones every route of its
   * kind can give (400 for invalid input, 401/403 when authenticated, 404 for path ids) are implied.
   */
  errors?: readonly ErrorCode[]
  handle(input: {
    params: z.infer<P>
    query: z.infer<Q>
    body: z.infer<B>
    identity: Identity
  }): Promise<{ status?: number; body: unknown }>
}

/** Declares a route with its schemas' types flowing into `handle`. */
export function route<P extends Schema, Q extends Schema, B extends Schema>(definition: HttpRoute<P, Q, B>): HttpRoute {
  return definition as unknown as HttpRoute
}

const ANONYMOUS: Identity = { subject: '', email: '', displayName: '', groups: [] }

/**
 * Builds one Lambda handler serving several HTTP API routes: dispatch on `routeKey` (API
 * Gateway has already matched the path), validate params, query and body with the route's
 * schemas, run it, and map refusals to `{error: {code, message, details}}`.
 */
export function httpApi(routes: readonly HttpRoute[]) {
  const byKey = new Map(routes.map((r) => [r.routeKey, r]))

  async function handle(event: HttpEvent): Promise<HttpResult> {
    const matched = byKey.get(event.routeKey)
    if (!matched) throw new ChatError('not_found', `No route ${event.routeKey}`)
    const identity = matched.auth === 'none' ? ANONYMOUS : identityFromClaims(event.requestContext.authorizer?.jwt?.claims)
    const params = validate(matched.params, event.pathParameters ?? {}, 'path')
    const query = validate(matched.query, event.queryStringParameters ?? {}, 'query')
    const body = matched.body ? validate(matched.body, parseJsonBody(event), 'body') : undefined
    const result = await matched.handle({ params, query, body, identity })
    return json(result.status ?? matched.successStatus ?? 200, result.body)
  }

  return { handle, handler: middy<HttpEvent, HttpResult, Error, Context>(handle).use(errorBodies()), routes }
}

export function json(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  }
}

function validate(schema: Schema | undefined, value: unknown, where: 'path' | 'query' | 'body'): unknown {
  if (!schema) return {}
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const details = validationIssues(result.error.issues, where)
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
 * The identity API Gateway's JWT authorizer verified. HTTP APIs flatten array claims into a
 * string such as "[admin trainer]", so groups are accepted in both shapes.
 */
export function identityFromClaims(claims: Record<string, unknown> | undefined): Identity {
  const subject = claims?.sub
  if (typeof subject !== 'string' || subject.length === 0) throw new ChatError('unauthorized', 'Missing or invalid token')
  const email = typeof claims?.email === 'string' ? claims.email : ''
  const name = typeof claims?.name === 'string' ? claims.name : undefined
  const rawGroups = claims?.['cognito:groups']
  const groups = Array.isArray(rawGroups)
    ? rawGroups.filter((g): g is string => typeof g === 'string')
    : typeof rawGroups === 'string'
      ? rawGroups.replace(/^\[|\]$/g, '').split(/[\s,]+/).filter(Boolean)
      : []
  return { subject, email, displayName: name ?? (email.split('@')[0] || subject), groups }
}

function errorBodies(): middy.MiddlewareObj<HttpEvent, HttpResult> {
  return {
    onError: async (request) => {
      const error = isChatError(request.error) ? request.error : new ChatError('internal', 'Something went wrong')
      if (!isChatError(request.error)) {
        log.error('unhandled error in HTTP route', { routeKey: request.event.routeKey, ...describeError(request.error) })
      }
      request.response = json(error.status, {
        error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) },
      })
    },
  }
}
