import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CLIENT_ACTIONS } from '@trainer-chat/protocol'
import { deployedWebSocketRoutes } from '../../lib/routes.ts'

/** The routes are declared once (lambdas/http/routes.ts, lambdas/websocket/routes.ts); the deployment reads them. */

test('every client action of the WebSocket protocol has a deployed route', () => {
  const deployed = deployedWebSocketRoutes().map((r) => r.key)
  for (const key of ['$connect', '$disconnect', '$default', ...CLIENT_ACTIONS]) assert.ok(deployed.includes(key), key)
})
