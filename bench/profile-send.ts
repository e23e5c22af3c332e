/**
 * Issue 12 item 2's breakdown of the sendMessage handler (not part of `npm run bench`): the
 * floor, the store call, the handler as the bench invokes it, and its parts, interleaved turn by
 * turn, wall time and the process's CPU time (all threads) per call, p50.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test N=300 \
 *     VARIANTS=floor,store,handler,bare,bareLambda,fullLambda,handlerStandIn,posts2,post1,standIn2 npx tsx bench/profile-send.ts
 *
 * bare: the handler with a delivery that posts nothing; bareLambda/fullLambda: with the Lambda
 * middlewares (Powertools log context, metrics line); posts2/post1: the delivery adapter alone,
 * two posts (acknowledgement and delivery) or one, through the local gateway to the real sockets;
 * standIn2/handlerStandIn: the same against a stand-in Management API in its own thread that
 * answers 200 at once. PROFILE=1 also writes a CPU profile of the main thread (OUT=path).
 */
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
import { startBenchStack } from './bench-stack.ts'
import { ClientPool } from './client-pool.ts'
import { createInvoker, MESSAGE_BODY } from './invoke.ts'
import { rotate, settle, summarize } from './stats.ts'
import { messageEvent } from './events.ts'
import { invoke } from '@trainer-chat/aws-edge'
import { createBase } from '../lambdas/wiring/base.ts'
import { websocketDelivery } from '../lambdas/wiring/delivery.ts'
import { createSendMessageHandler, sendMessagePorts } from '../lambdas/handlers/ws-send-message.ts'
const localCredentials = () => ({ accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' })

import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
const N = Number(process.env.N ?? 300)
// A stand-in Management API in its own thread: reads the body, answers 200 at once.
const standIn = new Worker(`const http = require('node:http'); const { parentPort } = require('node:worker_threads');
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-length': '0' }); res.end() }) });
server.keepAliveTimeout = 60000; server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))`, { eval: true })
const [standInPort] = (await once(standIn, 'message')) as [number]
standIn.unref()
const pool = ClientPool.start()
const bench = await startBenchStack({ maxConnectionsPerUser: 20 })
const invoker = await createInvoker(bench, pool, 'prof')
const { member, trainer, pair, store } = invoker
const conversationId = pair.conversationId
let seq = 0
const next = () => `${Date.now().toString(36)}-${seq++}`
const config = bench.stack.config()
const local = createBase(config, { lambda: false, credentials: localCredentials() })
const lambda = createBase(config, { lambda: true, credentials: localCredentials() })
const noPost = { post: async () => ({ gone: [], failed: [], late: [] }), disconnect: async () => {} }
const bare = createSendMessageHandler({ ...sendMessagePorts(local, bench.stack.db), delivery: noPost })
const bareLambda = createSendMessageHandler({ ...sendMessagePorts(lambda, bench.stack.db), delivery: noPost }, lambda.middlewares)
const fullLambda = createSendMessageHandler(sendMessagePorts(lambda, bench.stack.db), lambda.middlewares)
const delivery = websocketDelivery(local)
const standInBase = createBase({ ...config, connectionsEndpoint: `http://127.0.0.1:${standInPort}/local` }, { lambda: false, credentials: localCredentials() })
const standInDelivery = websocketDelivery(standInBase)
const handlerStandIn = createSendMessageHandler(sendMessagePorts(standInBase, bench.stack.db))
const frame = (requestId?: string) => ({ type: 'newMessage' as const, message: { id: '0b3c8f0e-0000-4000-8000-000000000000', conversationId, seq: 1, senderId: member.user.id, body: MESSAGE_BODY, createdAt: new Date().toISOString() }, ...(requestId ? { requestId } : {}) }) as never
const event = () => messageEvent(invoker.endpoint, member.connectionId, { action: 'sendMessage', requestId: next(), conversationId, clientMessageId: `h-${next()}`, body: MESSAGE_BODY }, member.authorizer)
const all = {
  floor: () => invoker.floor(),
  store: async () => void (await store.sendMessage({ connectionId: member.connectionId, conversationId, clientMessageId: `s-${next()}`, body: MESSAGE_BODY })),
  handler: () => invoker.route('sendMessage', member, { requestId: next(), conversationId, clientMessageId: `h-${next()}`, body: MESSAGE_BODY }),
  bare: () => invoke(bare, event(), 'ws-send-message'),
  bareLambda: () => invoke(bareLambda, event(), 'ws-send-message'),
  fullLambda: () => invoke(fullLambda, event(), 'ws-send-message'),
  posts2: () => delivery.post([{ connectionId: member.connectionId, frame: frame(next()) }, { connectionId: trainer.connectionId, frame: frame() }]),
  standIn2: () => standInDelivery.post([{ connectionId: member.connectionId, frame: frame(next()) }, { connectionId: trainer.connectionId, frame: frame() }]),
  handlerStandIn: () => invoke(handlerStandIn, event(), 'ws-send-message'),
  post1: () => delivery.post([{ connectionId: trainer.connectionId, frame: frame() }]),
} as const
type Name = keyof typeof all
const names = (process.env.VARIANTS ?? 'floor,store,handler,bare,posts2,post1').split(',') as Name[]
const wall: Record<string, number[]> = {}, cpu: Record<string, number[]> = {}
for (const n of names) { wall[n] = []; cpu[n] = [] }
const session = new Session()
session.connect()
const profile = process.env.PROFILE === '1'
const W = 30
for (let i = 0; i < N + W; i++) {
  if (i === W && profile) { await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 200 }); await session.post('Profiler.start') }
  for (const name of rotate(names, i)) {
    await settle()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await all[name]()
    const t = performance.now() - t0
    const c = process.cpuUsage(c0)
    if (i >= W) { wall[name]!.push(t); cpu[name]!.push((c.user + c.system) / 1000) }
  }
}
if (profile) {
  const { profile: p } = await session.post('Profiler.stop')
  writeFileSync(process.env.OUT ?? '/tmp/prof/send.cpuprofile', JSON.stringify(p))
}
const f = summarize(wall.floor ?? [1]).p50
for (const name of names) {
  const w = summarize(wall[name]!); const c = summarize(cpu[name]!)
  console.log(`${name.padEnd(10)} wall p50 ${w.p50.toFixed(2)} ms (${(w.p50 / f).toFixed(2)}× floor) p99 ${w.p99.toFixed(2)}  cpu p50 ${c.p50.toFixed(2)} ms mean ${(cpu[name]!.reduce((a, b) => a + b, 0) / cpu[name]!.length).toFixed(2)}`)
}
await pool.stop()
await bench.close()
