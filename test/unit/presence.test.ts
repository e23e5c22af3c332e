import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ServerFrame } from '@trainer-chat/protocol'
import { connect } from '../../lambdas/core/chat.ts'
import type { ChatStore, ConnectResult, Delivery, Departures, Outgoing } from '../../lambdas/core/ports.ts'
import { announceDepartures, departureFrames } from '../../lambdas/core/presence.ts'
import { silentLog } from '../helpers/ports.ts'

/** The presence use cases with in-memory ports: which frames go where, and the stale-slot reclaim at $connect. */

const identity = { subject: 'sub-1', email: 'm@example.com', displayName: 'M', groups: [] }
const connectInput = { connectionId: 'new', identity, tokenExpiresAt: new Date(0), maxConnectionsPerUser: 2 }

function recordingDelivery(gone: string[] = [], probeGone: string[] = []) {
  const posted: Outgoing<ServerFrame>[] = []
  const probed: string[][] = []
  const delivery: Delivery<ServerFrame> = {
    async post(outgoing) {
      posted.push(...outgoing)
      return { gone: outgoing.map((o) => o.connectionId).filter((id) => gone.includes(id)), failed: [] }
    },
    async disconnect() {},
    async probe(ids) {
      probed.push([...ids])
      return ids.filter((id) => probeGone.includes(id))
    },
  }
  return { delivery, posted, probed }
}

const noDepartures: Departures = { offline: [], left: [] }

test('departures become userLeft to the joined connections and presence offline to the live ones', () => {
  const frames = departureFrames({
    left: [{ userId: 'm', conversationId: 'c', connectionIds: ['t1'] }],
    offline: [{ userId: 'm', lastSeenAt: '2026-12-02T04:00:00.000Z', audiences: [{ conversationId: 'c', connectionIds: ['t1', 't2'] }] }],
  })
  assert.deepEqual(frames, [
    { connectionId: 't1', frame: { type: 'userLeft', conversationId: 'c', userId: 'm' } },
    { connectionId: 't1', frame: { type: 'presence', conversationId: 'c', userId: 'm', online: false, lastSeenAt: '2026-12-02T04:00:00.000Z' } },
    { connectionId: 't2', frame: { type: 'presence', conversationId: 'c', userId: 'm', online: false, lastSeenAt: '2026-12-02T04:00:00.000Z' } },
  ])
})

test('a 410 on a presence post forgets nothing: the connection may still be inside its $connect', async () => {
  const { delivery } = recordingDelivery(['t1'])
  const forgotten: string[] = []
  const store = { async forgetConnections(ids: readonly string[]) { forgotten.push(...ids); return noDepartures } }
  await announceDepartures({ store, delivery, log: silentLog }, { left: [{ userId: 'm', conversationId: 'c', connectionIds: ['t1'] }], offline: [] })
  assert.deepEqual(forgotten, [])
})

test('$connect at the limit checks the oldest connections, forgets the gone ones, tries once more and announces online, never to itself', async () => {
  const results: ConnectResult[] = [
    { outcome: 'too_many_connections', userId: 'm', oldest: ['old-1', 'old-2'] },
    { outcome: 'connected', userId: 'm', online: [{ conversationId: 'c', connectionIds: ['t1', 'new'] }] },
  ]
  const forgotten: string[] = []
  const store = {
    connect: async () => results.shift() as ConnectResult,
    async forgetConnections(ids: readonly string[]) {
      forgotten.push(...ids)
      return noDepartures
    },
  } as unknown as ChatStore
  const { delivery, posted, probed } = recordingDelivery([], ['old-1'])

  assert.deepEqual(await connect({ store, delivery, log: silentLog }, connectInput), { userId: 'm' })

  assert.deepEqual(probed, [['old-1', 'old-2']])
  assert.deepEqual(forgotten, ['old-1'])
  assert.deepEqual(posted, [{ connectionId: 't1', frame: { type: 'presence', conversationId: 'c', userId: 'm', online: true, lastSeenAt: null } }])
})

test('$connect at the limit with every connection still known to API Gateway is refused with rate_limited, and forgets nothing', async () => {
  const forgotten: string[] = []
  const store = {
    connect: async (): Promise<ConnectResult> => ({ outcome: 'too_many_connections', userId: 'm', oldest: ['a', 'b'] }),
    async forgetConnections(ids: readonly string[]) {
      forgotten.push(...ids)
      return noDepartures
    },
  } as unknown as ChatStore
  const { delivery, posted } = recordingDelivery()

  await assert.rejects(connect({ store, delivery, log: silentLog }, connectInput), (error: { code?: string }) => error.code === 'rate_limited')
  assert.deepEqual(forgotten, [])
  assert.deepEqual(posted, [])
})
