import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminRoutes } from '../../lambdas/handlers/http-admin.ts'
import { appRoutes } from '../../lambdas/handlers/http-app.ts'
import { CLIENT_ACTIONS } from '../../lambdas/core/protocol.ts'
import { httpRouteKey, httpRoutes, webSocketRoutes } from '../../lib/routes.ts'

/** The deployed route table and the handlers' own route tables must never drift apart. */

test('every REST route a handler serves is deployed to that handler with matching auth, and nothing else is', () => {
  const served = [
    ...appRoutes.map((r) => ({ key: r.routeKey, handler: 'http-app', auth: r.auth })),
    ...adminRoutes.map((r) => ({ key: r.routeKey, handler: 'http-admin', auth: r.auth })),
  ].sort((a, b) => a.key.localeCompare(b.key))
  const deployed = httpRoutes()
    .map((r) => ({ key: httpRouteKey(r), handler: r.handler, auth: r.access === 'public' ? 'none' : r.access }))
    .sort((a, b) => a.key.localeCompare(b.key))
  assert.deepEqual(deployed, served)
})

test('every client action of the WebSocket protocol has a deployed route', () => {
  const deployed = webSocketRoutes().map((r) => r.routeKey)
  for (const key of ['$connect', '$disconnect', '$default', ...CLIENT_ACTIONS]) assert.ok(deployed.includes(key), key)
})
