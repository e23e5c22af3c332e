import * as z from 'zod/mini'
import { ERROR_STATUS, type ErrorCode } from '../core/errors.ts'
import { httpRoutes, splitRouteKey, type HttpRouteDeclaration } from './routes.ts'

/**
 * The OpenAPI 3.1 document of every REST route, generated from the route declarations (routes.ts) and the very
 * zod schemas the handlers validate with, so a route or field added in code is documented
 * without anyone remembering to. `npm run openapi` writes it to docs/openapi.json; http-app
 * serves it at /openapi.json.
 */

type JsonSchema = Record<string, unknown>
type Operation = Record<string, unknown>

export interface DocumentInfo {
  title: string
  version: string
  description: string
}

const DEFAULT_INFO: DocumentInfo = {
  title: 'trainer-chat REST API',
  version: '1.0.0',
  description:
    'REST routes of trainer-chat: the apps\' routes and the admin and moderation routes. Chat itself runs over the ' +
    'WebSocket API. Authenticated routes take a Cognito ID token as a bearer token; admin routes additionally ' +
    'require the admin role as recorded in the database (not the token\'s groups).',
}

const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_STATUS) },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
}

/** What API Gateway's JWT authorizer answers before our code runs. */
const GATEWAY_UNAUTHORIZED_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['message'],
  properties: { message: { type: 'string', const: 'Unauthorized' } },
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid path, query or body (`bad_request`), with the offending fields in `details.issues`',
  401: 'Missing, invalid or expired token',
  403: 'Authenticated, but not allowed (`forbidden`)',
  404: 'No such resource (`not_found`)',
  409: 'Refused by the current state of the resource',
  413: 'Too large',
  429: 'Rate limited',
  503: 'A dependency is unavailable',
}

/** The JSON schema of a zod schema, as the request side (`input`) or the response side (`output`) sees it. */
function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema {
  const generated = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
    override: ({ jsonSchema: node }) => {
      // A named format (uuid, date-time) says it all; zod's equivalent regular expressions only add noise.
      if (node.format && node.pattern) delete node.pattern
    },
  }) as JsonSchema
  delete generated.$schema
  return generated
}

function parameters(schema: z.ZodMiniType | undefined, location: 'path' | 'query'): JsonSchema[] {
  if (!schema) return []
  const object = jsonSchema(schema, 'input')
  const properties = (object.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((object.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || required.has(name),
    schema: property,
  }))
}

/** `GET /admin/conversations/{id}/messages` → `getAdminConversationsByIdMessages`. */
function operationId(method: string, path: string): string {
  const words = path
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment.startsWith('{') ? `by-${segment.slice(1, -1)}` : segment))
    .flatMap((segment) => segment.split(/[^A-Za-z0-9]+/))
    .filter(Boolean)
  return [method.toLowerCase(), ...words.map((word) => word[0]?.toUpperCase() + word.slice(1))].join('')
}

function errorStatuses(route: HttpRouteDeclaration): number[] {
  const codes = new Set<ErrorCode>(route.errors ?? [])
  if (route.params || route.query || route.body) codes.add('bad_request')
  if (route.access !== 'public') codes.add('unauthorized').add('forbidden')
  if (route.params) codes.add('not_found')
  return [...new Set([...codes].map((code) => ERROR_STATUS[code]))].sort((a, b) => a - b)
}

function operation(route: HttpRouteDeclaration, method: string, path: string): Operation {
  const successStatus = String(route.successStatus ?? 200)
  const responses: Record<string, unknown> = {
    [successStatus]: {
      description: 'Success',
      content: { 'application/json': { schema: route.response ? jsonSchema(route.response, 'output') : {} } },
    },
  }
  for (const status of errorStatuses(route)) {
    responses[String(status)] = { $ref: status === 401 ? '#/components/responses/Unauthorized' : `#/components/responses/Error${status}` }
  }
  responses.default = { $ref: '#/components/responses/UnexpectedError' }

  const operationParameters = [...parameters(route.params, 'path'), ...parameters(route.query, 'query')]
  return {
    operationId: operationId(method, path),
    summary: route.summary,
    tags: [route.access === 'admin' ? 'admin' : 'app'],
    ...(route.access === 'admin' ? { description: 'Requires the admin role (checked against the database; 403 otherwise).' } : {}),
    security: route.access === 'public' ? [] : [{ cognitoJwt: [] }],
    ...(operationParameters.length > 0 ? { parameters: operationParameters } : {}),
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } }
      : {}),
    responses,
  }
}

export function buildOpenApiDocument(routes: readonly HttpRouteDeclaration[], info: DocumentInfo = DEFAULT_INFO): Record<string, unknown> {
  const paths: Record<string, Record<string, Operation>> = {}
  const errorResponses: Record<string, unknown> = {}
  for (const route of routes) {
    const { method, path } = splitRouteKey(route.key)
    ;(paths[path] ??= {})[method.toLowerCase()] = operation(route, method, path)
    for (const status of errorStatuses(route)) {
      if (status === 401) continue
      errorResponses[`Error${status}`] = {
        description: STATUS_TEXT[status] ?? 'Refused',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      }
    }
  }
  return {
    openapi: '3.1.0',
    info,
    tags: [
      { name: 'app', description: 'Routes the member and trainer apps use' },
      { name: 'admin', description: 'Admin and moderation routes; every change is written to the audit trail' },
    ],
    paths,
    components: {
      securitySchemes: {
        cognitoJwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A Cognito ID token (claims sub, email, cognito:groups, token_use=id)',
        },
      },
      schemas: { Error: ERROR_SCHEMA },
      responses: {
        ...Object.fromEntries(Object.entries(errorResponses).sort(([a], [b]) => a.localeCompare(b))),
        Unauthorized: {
          description: STATUS_TEXT[401],
          content: {
            'application/json': { schema: { oneOf: [GATEWAY_UNAUTHORIZED_SCHEMA, { $ref: '#/components/schemas/Error' }] } },
          },
        },
        UnexpectedError: {
          description: 'Anything else (`internal`, `unavailable`); never carries internal details',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    },
  }
}

let document: Record<string, unknown> | undefined

/** The document for all REST routes, built once per process on first use. */
export function restApiDocument(): Record<string, unknown> {
  return (document ??= buildOpenApiDocument(httpRoutes()))
}
