import SwaggerParser from '@apidevtools/swagger-parser'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { appApi } from '../../lambdas/handlers/http-app.ts'
import { buildOpenApiDocument, restApiDocument } from '../../lambdas/http/openapi.ts'
import { httpRoutes, type HttpRouteDeclaration } from '../../lambdas/http/routes.ts'
import { OPENAPI_FILE, renderOpenApi } from '../../scripts/openapi.ts'

/** The OpenAPI document is generated from the route declarations and their zod schemas, and is valid OpenAPI 3.1. */

const adminRoutes = httpRoutes().filter((route) => route.access === 'admin')

type Operation = {
  operationId: string
  security: unknown[]
  parameters?: Array<{ name: string; in: string; required: boolean; schema: Record<string, unknown> }>
  requestBody?: { content: { 'application/json': { schema: { properties: Record<string, unknown>; required?: string[] } } } }
  responses: Record<string, unknown>
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> }

const document = restApiDocument() as Document
const operationOf = (routeKey: string): Operation => {
  const [method, path] = routeKey.split(' ') as [string, string]
  const found = document.paths[path]?.[method.toLowerCase()]
  assert.ok(found, `${routeKey} is in the document`)
  return found
}

describe('the generated OpenAPI document', () => {
  test('is a valid OpenAPI 3.1 document', async () => {
    // validate() dereferences in place: hand it a copy.
    await SwaggerParser.validate(structuredClone(document) as never)
    assert.equal(document.openapi, '3.1.0')
  })

  test('the validator refuses a broken document, so the check above means something', async () => {
    const broken = structuredClone(document)
    const audit = broken.paths['/admin/audit']?.get as Operation
    audit.responses['200'] = { content: {} }
    await assert.rejects(SwaggerParser.validate(broken as never))
  })

  test('describes every app and admin route, and nothing else', () => {
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    )
    const routeKeys = httpRoutes().map((route) => route.key)
    assert.deepEqual(documented.sort(), routeKeys.sort())
    assert.equal(new Set(Object.values(document.paths).flatMap((m) => Object.values(m).map((o) => o.operationId))).size, routeKeys.length)
  })

  test('every {placeholder} in a path is a declared path parameter', () => {
    // The validator does not check this for OpenAPI 3.1.
    for (const [path, methods] of Object.entries(document.paths)) {
      const placeholders = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort()
      for (const [method, operation] of Object.entries(methods)) {
        const declared = (operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort()
        assert.deepEqual(declared, placeholders, `${method.toUpperCase()} ${path}`)
      }
    }
  })

  test('a route added to the declarations appears without further work', async () => {
    const z = await import('zod/mini')
    const extra: HttpRouteDeclaration = {
      key: 'POST /things/{id}',
      access: 'user',
      handler: 'http-app',
      summary: 'A new route',
      params: z.object({ id: z.guid() }),
      body: z.object({ name: z.string().check(z.minLength(1)) }),
    }
    const built = buildOpenApiDocument([...httpRoutes(), extra]) as Document
    const added = built.paths['/things/{id}']?.post
    assert.ok(added)
    assert.deepEqual(added.requestBody?.content['application/json'].schema.required, ['name'])
    await SwaggerParser.validate(structuredClone(built) as never)
  })

  test('admin routes require a bearer token and document 401 and 403', () => {
    for (const route of adminRoutes) {
      const operation = operationOf(route.key)
      assert.deepEqual(operation.security, [{ cognitoJwt: [] }], route.key)
      assert.ok(operation.responses['401'] && operation.responses['403'], route.key)
    }
  })

  test('public routes need no token', () => {
    for (const routeKey of ['GET /health', 'GET /openapi.json']) assert.deepEqual(operationOf(routeKey).security, [])
  })

  test('parameters and bodies come from the handlers’ schemas', () => {
    const list = operationOf('GET /admin/conversations')
    const byName = Object.fromEntries((list.parameters ?? []).map((p) => [p.name, p]))
    assert.deepEqual(byName.status?.schema.enum, ['open', 'closed'])
    assert.equal(byName.limit?.schema.maximum, 100)
    assert.equal(byName.limit?.schema.default, 50)
    assert.equal(byName.cursor?.required, false)

    const close = operationOf('POST /admin/conversations/{id}/close')
    assert.deepEqual(close.parameters?.map((p) => [p.name, p.in, p.required]), [['id', 'path', true]])
    assert.deepEqual(close.requestBody?.content['application/json'].schema.required, ['reason'])
    assert.ok(close.responses['409'], 'closing documents its conflict')

    const role = operationOf('PUT /admin/users/{id}/role')
    const roleSchema = role.requestBody?.content['application/json'].schema.properties.role as { enum: string[] }
    assert.deepEqual([...roleSchema.enum].sort(), ['admin', 'trainer', 'user'])
  })

  test('docs/openapi.json is up to date (run `npm run openapi` after changing a route)', async () => {
    const committed = await readFile(OPENAPI_FILE, 'utf8')
    // A plain boolean: a failing deepEqual would print both 80 KB documents.
    assert.ok(committed === renderOpenApi(), 'docs/openapi.json differs from the route tables: run `npm run openapi`')
  })

  test('GET /openapi.json serves the same document without a token', async () => {
    const result = await appApi({ routeKey: 'GET /openapi.json', requestContext: {} })
    assert.equal(result.statusCode, 200)
    assert.deepEqual(JSON.parse(result.body), document)
  })
})
