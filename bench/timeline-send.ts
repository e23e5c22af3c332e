/**
 * Issue 12 item 2: a timeline of each sendMessage handler invocation, interleaved turn by turn
 * with the floor and the store call in the same process (not part of `npm run bench`).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test N=300 npx tsx bench/timeline-send.ts
 *
 * Variants: `floor` (the bare INSERT … RETURNING), `store` (the ChatStore.sendMessage call),
 * `handler` (the stack's own handler, as figure 1 invokes it), `timed` (the same factories with
 * the store and the delivery wrapped to mark their start and end). For `timed`, node's HTTP
 * diagnostics channels mark each PostToConnection: client request start, the local gateway's
 * request start and response finish, the client's response finish. Every variant also reads the
 * main thread's /proc/thread-self/schedstat before and after: time on a CPU and time waiting on
 * a run queue (runnable, not running: the machine's load), and counts voluntary waits (epoll).
 * VARIANTS=floor,store,handler,timed selects; EXTRA=standIn adds `standIn` (the timed handler
 * posting to a stand-in Management API in its own thread that answers 200 at once), EXTRA=inProcess
 * `inProcess` (to one on this event loop, as figure 1's target run), EXTRA=inProcess,rawClient also
 * `rawClient` (the same with a hand-written HTTP client prototype instead of node:http). WRITES=1
 * times socket writes; PROFILE=path writes a CPU profile.
 */
import dc from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { startBenchStack } from './bench-stack.ts'
import { ClientPool } from './client-pool.ts'
import { createInvoker, MESSAGE_BODY } from './invoke.ts'
import { rotate, settle } from './stats.ts'
import { messageEvent } from './events.ts'
import { invoke } from '@trainer-chat/aws-edge'
import { createBase } from '../lambdas/wiring/base.ts'
import { websocketDelivery } from '../lambdas/wiring/delivery.ts'
import { createSendMessageHandler, sendMessagePorts } from '../lambdas/handlers/ws-send-message.ts'
import type { ChatStore, Delivery } from '../lambdas/core/ports.ts'
import { createWebSocketDelivery, type ManagementApi } from '../lambdas/adapters/websocket-delivery.ts'
import { createSigner, escapeUri } from '../lambdas/adapters/sigv4.ts'
import { connect, type Socket } from 'node:net'
import type { ServerFrame } from '@trainer-chat/protocol'

const N = Number(process.env.N ?? 300)
const W = Number(process.env.WARMUP ?? 30)

/** The main thread's scheduler counters: ns on a CPU, ns runnable but waiting, timeslices. */
function schedstat(): [number, number, number] {
  const [run, wait, slices] = readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(' ').map(Number)
  return [run as number, wait as number, slices as number]
}

interface Marks {
  t0: number
  storeStart?: number
  storeEnd?: number
  postStart?: number
  postEnd?: number
  clientStart: number[]
  serverStart: number[]
  serverFinish: number[]
  clientFinish: number[]
  end?: number
}
let current: Marks | undefined
dc.subscribe('http.client.request.start', () => current?.clientStart.push(performance.now()))
dc.subscribe('http.server.request.start', () => current?.serverStart.push(performance.now()))
dc.subscribe('http.server.response.finish', () => current?.serverFinish.push(performance.now()))
dc.subscribe('http.client.response.finish', () => current?.clientFinish.push(performance.now()))
/** New client sockets opened during a timed invocation (0 when keep-alive reuses them). */
let newSockets = 0
dc.subscribe('net.client.socket', () => {
  if (current) newSockets++
})

/** WRITES=1: every socket write's wall time and run-queue wait, by destination, during `timed`. */
const writes: Record<string, { n: number; wall: number[]; wait: number[] }> = {}
if (process.env.WRITES === '1') {
  const { Socket } = await import('node:net')
  const proto = Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>
  for (const method of ['_writeGeneric']) {
    const original = proto[method] as (...args: unknown[]) => unknown
    proto[method] = function (this: import('node:net').Socket & { _httpMessage?: unknown }, ...args: unknown[]) {
      if (!current) return original.apply(this, args)
      const kind =
        this.remotePort === inProcessPort ? 'http client → in-process stand-in' : this.localPort === inProcessPort ? 'in-process stand-in → http client' : this.remotePort === 5432 ? 'pg' : this.remotePort === bench.stack.ws.port ? 'http client → gateway' : this.localPort === bench.stack.ws.port ? (this._httpMessage ? 'gateway → http client' : 'gateway → ws client (worker)') : `other ${this.remotePort}`
      const s0 = schedstat()
      const t0 = performance.now()
      try {
        return original.apply(this, args)
      } finally {
        const t = performance.now() - t0
        const s1 = schedstat()
        const entry = (writes[kind] ??= { n: 0, wall: [], wait: [] })
        entry.n++
        entry.wall.push(t)
        entry.wait.push((s1[1] - s0[1]) / 1e6)
      }
    }
  }
}

let standInPort = 0
if ((process.env.EXTRA ?? '').includes('standIn')) {
  const standIn = new Worker(
    `const http = require('node:http'); const { parentPort } = require('node:worker_threads');
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-length': '0' }); res.end() }) });
server.keepAliveTimeout = 60000; server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))`,
    { eval: true },
  )
  ;[standInPort] = (await once(standIn, 'message')) as [number]
  standIn.unref()
}

// EXTRA=inProcess: a stand-in Management API on the main thread's own event loop that reads the body and answers 200 at once.
let inProcessPort = 0
if ((process.env.EXTRA ?? '').includes('inProcess')) {
  const { createServer } = await import('node:http')
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      response.writeHead(200, { 'content-length': '0' })
      response.end()
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  inProcessPort = (server.address() as import('node:net').AddressInfo).port
  server.unref()
}

const pool = ClientPool.start()
const bench = await startBenchStack({ maxConnectionsPerUser: 20 })
const invoker = await createInvoker(bench, pool, 'tl')
const { member, pair, store } = invoker
const conversationId = pair.conversationId
let seq = 0
const next = () => `${Date.now().toString(36)}-${seq++}`
const config = bench.stack.config()
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }

const timedStore = (inner: ChatStore): ChatStore =>
  new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown
      if (name !== 'sendMessage' || typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        if (current) current.storeStart = performance.now()
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
        } finally {
          if (current) current.storeEnd = performance.now()
        }
      }
    },
  })
const timedDelivery = (inner: Delivery<ServerFrame>): Delivery<ServerFrame> => ({
  ...inner,
  post: async (outgoing, options) => {
    if (current) current.postStart = performance.now()
    try {
      return await inner.post(outgoing, options)
    } finally {
      if (current) current.postEnd = performance.now()
    }
  },
})
const timedHandler = (endpoint?: string) => {
  const base = createBase(endpoint ? { ...config, connectionsEndpoint: endpoint } : config, { lambda: false, credentials })
  const ports = sendMessagePorts(base, bench.stack.db)
  return createSendMessageHandler({ ...ports, store: timedStore(ports.store), delivery: timedDelivery(websocketDelivery(base)) })
}
const timed = timedHandler()

/**
 * EXTRA=rawClient (with inProcess): a prototype, not for production: PostToConnection written by
 * hand on kept-alive sockets (one request at a time per socket, Content-Length answers only, no
 * retries, no abort), to measure what node:http's client costs the handler.
 */
function rawManagementApi(port: number): ManagementApi {
  const idle: Socket[] = []
  const signer = createSigner('execute-api', config.region)
  const host = `127.0.0.1:${port}`
  const socketFor = async (): Promise<Socket> => {
    const reused = idle.pop()
    if (reused) return reused
    const socket = connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    await once(socket, 'connect')
    return socket
  }
  const post = async (connectionId: string, data: Uint8Array) => {
    const path = `/local/@connections/${escapeUri(connectionId)}`
    const headers: Record<string, string> = { host, 'content-type': 'application/json' }
    signer.sign('POST', path, headers, data, credentials, new Date())
    let head = `POST ${path} HTTP/1.1\r\n`
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`
    head += `content-length: ${data.byteLength}\r\n\r\n`
    const socket = await socketFor()
    await new Promise<void>((resolve, reject) => {
      let buffered: Buffer = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk
        const end = buffered.indexOf('\r\n\r\n')
        if (end < 0) return
        const text = buffered.subarray(0, end).toString('latin1')
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0)
        if (buffered.length < end + 4 + length) return
        socket.off('data', onData)
        socket.off('error', reject)
        idle.push(socket)
        const status = Number(text.slice(9, 12))
        if (status >= 200 && status < 300) resolve()
        else reject(Object.assign(new Error(`status ${status}`), { $metadata: { httpStatusCode: status } }))
      }
      socket.on('data', onData)
      socket.once('error', reject)
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), data]))
    })
  }
  return { postToConnection: post, deleteConnection: async () => {}, getConnection: async () => {}, destroy: () => idle.forEach((socket) => socket.destroy()) }
}
const standIn = standInPort ? timedHandler(`http://127.0.0.1:${standInPort}/local`) : undefined
const inProcess = inProcessPort ? timedHandler(`http://127.0.0.1:${inProcessPort}/local`) : undefined
const rawClient = (() => {
  if (!inProcessPort || !(process.env.EXTRA ?? '').includes('rawClient')) return undefined
  const base = createBase(config, { lambda: false, credentials })
  const ports = sendMessagePorts(base, bench.stack.db)
  return createSendMessageHandler({ ...ports, store: timedStore(ports.store), delivery: timedDelivery(createWebSocketDelivery<ServerFrame>(rawManagementApi(inProcessPort), base.log)) })
})()
const event = () =>
  messageEvent(invoker.endpoint, member.connectionId, { action: 'sendMessage', requestId: next(), conversationId, clientMessageId: `t-${next()}`, body: MESSAGE_BODY }, member.authorizer)

const all: Record<string, () => Promise<unknown>> = {
  floor: () => invoker.floor(),
  store: () => store.sendMessage({ connectionId: member.connectionId, conversationId, clientMessageId: `s-${next()}`, body: MESSAGE_BODY }),
  handler: () => invoker.route('sendMessage', member, { requestId: next(), conversationId, clientMessageId: `h-${next()}`, body: MESSAGE_BODY }),
  timed: () => invoke(timed, event(), 'ws-send-message'),
  ...(standIn ? { standIn: () => invoke(standIn, event(), 'ws-send-message') } : {}),
  ...(inProcess ? { inProcess: () => invoke(inProcess, event(), 'ws-send-message') } : {}),
  ...(rawClient ? { rawClient: () => invoke(rawClient, event(), 'ws-send-message') } : {}),
}
const names = (process.env.VARIANTS ?? 'floor,store,handler,timed').split(',').concat(standIn ? ['standIn'] : [], inProcess ? ['inProcess'] : [], rawClient ? ['rawClient'] : [])

interface Sample {
  wall: number
  cpu: number
  run: number
  wait: number
  slices: number
  marks?: Marks
}
const samples: Record<string, Sample[]> = Object.fromEntries(names.map((name) => [name, []]))
// PROFILE=path: a CPU profile of the main thread over the counted turns (200 µs sampling).
const { Session } = await import('node:inspector/promises')
const session = new Session()
if (process.env.PROFILE) session.connect()
for (let i = 0; i < N + W; i++) {
  if (i === W && process.env.PROFILE) {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 200 })
    await session.post('Profiler.start')
  }
  for (const name of rotate(names, i)) {
    await settle()
    const marks: Marks | undefined = name === 'timed' || name === 'standIn' || name === 'inProcess' || name === 'rawClient' ? { t0: 0, clientStart: [], serverStart: [], serverFinish: [], clientFinish: [] } : undefined
    const s0 = schedstat()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    if (marks) {
      marks.t0 = t0
      current = marks
    }
    await all[name]!()
    const t1 = performance.now()
    current = undefined
    const c = process.cpuUsage(c0)
    const s1 = schedstat()
    if (marks) marks.end = t1
    if (i >= W) samples[name]!.push({ wall: t1 - t0, cpu: (c.user + c.system) / 1000, run: (s1[0] - s0[0]) / 1e6, wait: (s1[1] - s0[1]) / 1e6, slices: s1[2] - s0[2], ...(marks ? { marks } : {}) })
  }
}

if (process.env.PROFILE) {
  const { profile } = await session.post('Profiler.stop')
  ;(await import('node:fs')).writeFileSync(process.env.PROFILE, JSON.stringify(profile))
}
const p50 = (xs: number[]) => {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}
/** The 10th percentile: the turns the machine's load touched least. */
const percentile10 = (xs: number[]) => {
  const sorted = xs.filter(Number.isFinite).sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 10)] ?? Number.NaN
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const floorP50 = p50(samples.floor!.map((s) => s.wall))
const f = (x: number) => x.toFixed(2).padStart(6)
console.log(`load ${readFileSync('/proc/loadavg', 'utf8').trim()}; n=${N} per variant; p50 (mean) in ms; × = p50 wall over the floor's`)
console.log('variant   wall            ×      cpu(all threads)  main on-cpu     main runq-wait   timeslices')
for (const name of names) {
  const xs = samples[name]!
  const col = (k: keyof Omit<Sample, 'marks'>) => `${f(p50(xs.map((s) => s[k])))} (${f(mean(xs.map((s) => s[k])))})`
  console.log(`${name.padEnd(9)} wall p10 ${f(percentile10(xs.map((s) => s.wall)))} (${(percentile10(xs.map((s) => s.wall)) / percentile10(samples.floor!.map((s) => s.wall))).toFixed(2)}× the floor's p10)`)
  console.log(`${name.padEnd(9)} ${col('wall')}  ${(p50(xs.map((s) => s.wall)) / floorP50).toFixed(2)}×  ${col('cpu')}   ${col('run')}  ${col('wait')}  ${col('slices')}`)
}
for (const name of ['timed', 'standIn', 'inProcess', 'rawClient']) {
  const xs = samples[name]?.map((s) => s.marks as Marks)
  if (!xs?.length) continue
  const seg = (label: string, fn: (m: Marks) => number) => {
    const values = xs.map(fn)
    console.log(`  ${label.padEnd(52)} ${f(p50(values))} (${f(mean(values))}) p10 ${f(percentile10(values))}`)
  }
  const first = (a: number[]) => Math.min(...a)
  const last = (a: number[]) => Math.max(...a)
  console.log(`${name}: segments, p50 (mean) ms`)
  seg('invoke → store call (parse, validate, middy)', (m) => (m.storeStart ?? NaN) - m.t0)
  seg('store call', (m) => (m.storeEnd ?? NaN) - (m.storeStart ?? NaN))
  seg('store → post (frames, sign URLs, answered)', (m) => (m.postStart ?? NaN) - (m.storeEnd ?? NaN))
  seg('post → first client request start (sign, agent)', (m) => first(m.clientStart) - (m.postStart ?? NaN))
  seg('first → last client request start', (m) => last(m.clientStart) - first(m.clientStart))
  if (name !== 'standIn') {
    seg('last client start → first gateway request start', (m) => first(m.serverStart) - last(m.clientStart))
    seg('gateway: first request start → last response finish', (m) => last(m.serverFinish) - first(m.serverStart))
    seg('gateway last finish → last client response finish', (m) => last(m.clientFinish) - last(m.serverFinish))
  } else {
    seg('last client start → last client response finish', (m) => last(m.clientFinish) - last(m.clientStart))
  }
  seg('last client response → post returns', (m) => (m.postEnd ?? NaN) - last(m.clientFinish))
  seg('post returns → handler returns (report, middy)', (m) => (m.end ?? NaN) - (m.postEnd ?? NaN))
  seg('post (whole)', (m) => (m.postEnd ?? NaN) - (m.postStart ?? NaN))
  seg('handler (whole)', (m) => (m.end ?? NaN) - m.t0)
}
console.log(`new client sockets during timed invocations: ${newSockets}`)
for (const [kind, entry] of Object.entries(writes)) {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
  console.log(`writes ${kind.padEnd(30)} ${(entry.n / N).toFixed(2)} per invocation, wall p50 ${f(p50(entry.wall))} mean ${f(sum(entry.wall) / entry.n)}, runq wait mean ${f(sum(entry.wait) / entry.n)} ms`)
}
await pool.stop()
await bench.close()
