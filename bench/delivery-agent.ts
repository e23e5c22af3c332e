import { ApiGatewayManagementApiClient, DeleteConnectionCommand, GetConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createManagementApi, createWebSocketDelivery, type ManagementApi } from '../lambdas/adapters/websocket-delivery.ts'
import { managementApiAgent } from '../lambdas/wiring/delivery.ts'
import type { Log } from '../lambdas/core/ports.ts'
import type { Checks, Row } from './report.ts'
import { median, ms, ratio, rotate, round, settle } from './stats.ts'

/**
 * Figure 6, the Management API client alone (issue 12 item 4): the delivery adapter
 * (lambdas/adapters/websocket-delivery.ts) over our client (createManagementApi, beside it) or the AWS SDK's,
 * posting one frame to 1 and to 100 connections of a server in a child process that
 * answers every PostToConnection at once, over TLS as in AWS (a self-signed certificate the
 * client trusts). The variants take turns: the SDK's client with its default agent (keep-alive, 50
 * sockets) and with ours, our client with the agent the handlers use (`managementApiAgent`), with 50
 * sockets, and without keep-alive. CPU per post is
 * this process's user + system time over the posts it made (the server's is its own process's).
 */

export interface AgentPlan {
  warmup: number
  reps: number
  timeLimitMs: number
}

export interface AgentVariantResult {
  variant: string
  maxSockets: number
  keepAlive: boolean
  one: { p50: number }
  hundred: { p50: number }
  ratio: number
  cpuPerPostMs: number
  reps: number
  /** The SDK's "socket usage at capacity" warnings seen. */
  capacityWarnings: number
}

interface Variant {
  name: string
  /** The AWS SDK's client, or ours (lambdas/adapters/websocket-delivery.ts createManagementApi). */
  client: 'sdk' | 'ours'
  maxSockets: number
  keepAlive: boolean
}

const SERVER = `
const https = require('node:https')
const fs = require('node:fs')
const [key, cert] = [fs.readFileSync(process.argv[1]), fs.readFileSync(process.argv[2])]
const server = https.createServer({ key, cert, keepAliveTimeout: 60000 }, (req, res) => {
  req.resume()
  req.on('end', () => { res.writeHead(200, { 'content-length': '0' }); res.end() })
})
server.maxConnections = 10000
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
`

async function startServer(dir: string): Promise<{ port: number; cert: Buffer; child: ChildProcess }> {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const child = spawn(process.execPath, ['-e', SERVER, keyFile, certFile], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.once('line', resolve)
    child.once('exit', (code) => reject(new Error(`the Management API stand-in exited with ${code}`)))
  })
  return { port: Number(line), cert: await readFile(certFile), child }
}

/** The SDK's client behind the port the delivery adapter takes, as the handlers used it before. */
function sdkClient(client: ApiGatewayManagementApiClient): ManagementApi {
  return {
    postToConnection: async (connectionId, data, options = {}) =>
      void (await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }), options.abortSignal ? { abortSignal: options.abortSignal } : {})),
    deleteConnection: async (connectionId) => void (await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }))),
    getConnection: async (connectionId) => void (await client.send(new GetConnectionCommand({ ConnectionId: connectionId }))),
    destroy: () => client.destroy(),
  }
}

export async function measureDeliveryAgents(plan: AgentPlan, checks: Checks): Promise<{ rows: Row[]; results: AgentVariantResult[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'trainer-chat-agent-'))
  let server: Awaited<ReturnType<typeof startServer>> | undefined
  try {
    server = await startServer(dir)
    const ours = managementApiAgent()
    const variants: Variant[] = [
      { name: 'AWS SDK client, its default agent', client: 'sdk', maxSockets: 50, keepAlive: true },
      { name: `AWS SDK client, ${ours.maxSockets} sockets`, client: 'sdk', maxSockets: ours.maxSockets, keepAlive: true },
      { name: 'ours, as deployed (lambdas/wiring/delivery.ts)', client: 'ours', maxSockets: ours.maxSockets, keepAlive: ours.keepAlive },
      { name: 'ours, 50 sockets', client: 'ours', maxSockets: 50, keepAlive: true },
      { name: 'ours, no keep-alive', client: 'ours', maxSockets: ours.maxSockets, keepAlive: false },
    ]
    const warnings = new Map<string, number>()
    const clients = variants.map((variant) => {
      const logger = {
        debug: () => {},
        info: () => {},
        warn: (message: unknown) => {
          if (String(message).includes('socket usage at capacity')) warnings.set(variant.name, (warnings.get(variant.name) ?? 0) + 1)
        },
        error: () => {},
      }
      const agent = { keepAlive: variant.keepAlive, maxSockets: variant.maxSockets, ca: server!.cert }
      const endpoint = `https://127.0.0.1:${server!.port}`
      const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' }
      const client: ManagementApi =
        variant.client === 'ours'
          ? createManagementApi({ endpoint, region: 'us-east-1', credentials, maxAttempts: 3, agent })
          : sdkClient(new ApiGatewayManagementApiClient({ region: 'us-east-1', credentials, endpoint, maxAttempts: 3, logger, requestHandler: { httpsAgent: agent } }))
      return { variant, client }
    })
    const log: Log = { debug: () => {}, info: () => {}, warn: (message) => checks.fail(`delivery agent: ${message}`), error: (message) => checks.fail(`delivery agent: ${message}`) }
    const frame = { type: 'newMessage', message: { body: 'Great session today! Same time on Thursday, and remember to stretch.' } }
    const outgoing = (size: number) => Array.from({ length: size }, (_, n) => ({ connectionId: `conn-${n}=`, frame }))
    const samples = new Map(variants.map((variant) => [variant.name, { one: [] as number[], hundred: [] as number[], cpu: 0, posts: 0 }]))
    // The time limit counts from the end of the warm-up turns (their count bounds them), so a
    // busy machine still gets measured turns rather than warm-ups only.
    let deadline = Number.POSITIVE_INFINITY
    let reps = 0
    for (let i = 0; i < plan.warmup + plan.reps && Date.now() < deadline; i++) {
      const warm = i >= plan.warmup
      if (i === plan.warmup) deadline = Date.now() + plan.timeLimitMs
      for (const { variant, client } of rotate(clients, i)) {
        const delivery = createWebSocketDelivery(client, log)
        const sample = samples.get(variant.name)!
        // Five single posts per turn: the 1-post time is short and noisier than the 100-post one.
        for (const size of [1, 1, 1, 1, 1, 100]) {
          await settle()
          const cpu = process.cpuUsage()
          const started = performance.now()
          const report = await delivery.post(outgoing(size))
          const elapsed = performance.now() - started
          const used = process.cpuUsage(cpu)
          checks.expect(report.failed.length === 0 && report.gone.length === 0, `delivery agent ${variant.name}: ${report.failed.length} failed posts`)
          if (!warm) continue
          ;(size === 1 ? sample.one : sample.hundred).push(elapsed)
          sample.cpu += (used.user + used.system) / 1000
          sample.posts += size
        }
      }
      if (warm) reps++
    }
    for (const { client } of clients) client.destroy()

    const results: AgentVariantResult[] = variants.map((variant) => {
      const sample = samples.get(variant.name)!
      const one = median(sample.one)
      const hundred = median(sample.hundred)
      return {
        variant: variant.name,
        maxSockets: variant.maxSockets,
        keepAlive: variant.keepAlive,
        one: { p50: round(one) },
        hundred: { p50: round(hundred) },
        ratio: hundred / one,
        cpuPerPostMs: round(sample.cpu / sample.posts),
        reps,
        capacityWarnings: warnings.get(variant.name) ?? 0,
      }
    })
    const rows: Row[] = results.map((result) => ({
      figure: '6 Fan-out',
      case: `Management API client alone, TLS: ${result.variant}`,
      measured:
        `${result.keepAlive ? 'keep-alive' : 'no keep-alive'}, maxSockets ${result.maxSockets}: 1 post p50 ${ms(result.one.p50)}, 100 posts p50 ${ms(result.hundred.p50)}; ` +
        `CPU ${ms(result.cpuPerPostMs)} per post; ${result.capacityWarnings} "socket usage at capacity" warnings (n=${result.reps})`,
      result: `${ratio(result.ratio)} for 100× the posts`,
      target: '–',
      met: null,
    }))
    return { rows, results }
  } finally {
    server?.child.stdin?.end()
    server?.child.kill()
    await rm(dir, { recursive: true, force: true })
  }
}
