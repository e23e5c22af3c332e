import type { BenchStack } from './bench-stack.ts'
import type { ClientPool } from './client-pool.ts'
import type { FanOutTarget } from './clients.ts'
import { measureDeliveryAgents, type AgentPlan, type AgentVariantResult } from './delivery-agent.ts'
import { atMost, type Checks, type Row, type Section, type SummaryEntry } from './report.ts'
import { median, ms, ratio, round, sleep, summarize } from './stats.ts'

/**
 * Figure 6: one message from a member to their trainer who holds N live connections, all joined
 * to the conversation: the time from the member's send to the last of the N connections
 * receiving it, for N = 1, 10, 100. One pair per N, all connected at once, the pairs taking
 * turns message by message so every N sees the same machine. Fan-out posts to every connection
 * in parallel, so this should grow far less than linearly with N.
 */

export interface FanOutPlan {
  sizes: number[]
  warmup: number
  reps: number
  /** The Management API client alone, agent variants (delivery-agent.ts); left out when absent (`--quick`). */
  agents?: AgentPlan
}

export interface FanOutSizeResult {
  connections: number
  reps: number
  lastDelivery: { p50: number; p99: number }
  acknowledgement: { p50: number }
  /** Median time at N over the median time at the first size. */
  ratio: number
}

/** "Far less than linear": at most a quarter of what N independent deliveries would take. */
const SUBLINEAR_SHARE = 0.25
/** Issue 12 target 4: 100 connections in at most 5× the time of one. */
const HUNDRED_TARGET = 5

function limitFor(connections: number, growth: number): number {
  return connections === 100 ? HUNDRED_TARGET : growth * SUBLINEAR_SHARE
}

export interface FanOutResult {
  sizes: FanOutSizeResult[]
  /** This process's CPU time (handler, SDK, the local gateway and its sockets) per PostToConnection, over the measured run. */
  cpuPerPostMs: number
  agents: AgentVariantResult[]
}

export async function measureFanOut(
  bench: BenchStack,
  pool: ClientPool,
  plan: FanOutPlan,
  checks: Checks,
): Promise<Section<FanOutResult>> {
  const { stack } = bench
  const url = `${stack.wsUrl}/local`
  const pairs = await bench.createPairs('fan', plan.sizes.length)
  const targets: FanOutTarget[] = []
  for (const [index, pair] of pairs.entries()) {
    const size = plan.sizes[index] as number
    const senderKey = `fan-${size}-member`
    const recipientKeys = Array.from({ length: size }, (_, n) => `fan-${size}-trainer-${n}`)
    const trainerToken = await bench.token(pair.trainer)
    await pool.open(url, [{ key: senderKey, token: await bench.token(pair.member) }])
    // One handshake at a time: simultaneous $connects of one user race for connection slots,
    // and past three lost races the connect handler gives up with a 500.
    await pool.open(url, recipientKeys.map((key) => ({ key, token: trainerToken })), 1)
    await pool.join([senderKey, ...recipientKeys].map((key) => ({ key, conversationId: pair.conversationId })))
    targets.push({ conversationId: pair.conversationId, senderKey, recipientKeys })
  }
  // Each member is told about every join; let those frames land before timing starts.
  await sleep(200)
  await stack.ws.idle()

  const warmup = await pool.fanOut({ label: 'fan-warmup', targets, reps: plan.warmup })
  const cpuBefore = process.cpuUsage()
  const run = await pool.fanOut({ label: 'fan', targets, reps: plan.reps })
  const cpu = process.cpuUsage(cpuBefore)
  // Each message: one post per recipient connection and the sender's acknowledgement.
  const posts = plan.sizes.reduce((total, size, index) => total + (run.times[index]?.length ?? 0) * (size + 1), 0)
  const cpuPerPostMs = (cpu.user + cpu.system) / 1000 / posts
  for (const failure of [...warmup.failures, ...run.failures]) checks.fail(`fan-out: ${failure}`)
  const results: FanOutSizeResult[] = []
  for (const [index, size] of plan.sizes.entries()) {
    const times = run.times[index] ?? []
    checks.expect(times.length === plan.reps, `fan-out to ${size}: ${times.length} of ${plan.reps} repetitions completed`)
    const summary = summarize(times)
    const base = median(run.times[0] ?? [])
    results.push({
      connections: size,
      reps: times.length,
      lastDelivery: { p50: round(summary.p50), p99: round(summary.p99) },
      acknowledgement: { p50: round(median(run.ackTimes[index] ?? [])) },
      ratio: summary.p50 / base,
    })
  }
  const { errorFrames } = await pool.counts(true)
  for (const frame of errorFrames) checks.fail(`fan-out: unexpected error frame ${frame}`)
  await pool.close(targets.flatMap((target) => [target.senderKey, ...target.recipientKeys]))

  const first = results[0]
  const rows: Row[] = results.map((result) => {
    const growth = first ? result.connections / first.connections : 1
    const isBase = result === first
    return {
      figure: '6 Fan-out',
      case: `${result.connections} connection${result.connections === 1 ? '' : 's'}`,
      measured:
        `send → last connection p50 ${ms(result.lastDelivery.p50)} / p99 ${ms(result.lastDelivery.p99)}; ` +
        `sender's ack p50 ${ms(result.acknowledgement.p50)} (n=${result.reps})`,
      result: isBase ? 'baseline' : `${ratio(result.ratio)} the time for ${growth}× the connections`,
      target: isBase ? '–' : `≤ ${ratio(limitFor(result.connections, growth))}${result.connections === 100 ? '' : ' (¼ of linear)'}`,
      met: isBase ? null : result.ratio <= limitFor(result.connections, growth),
    }
  })
  rows.push({
    figure: '6 Fan-out',
    case: 'CPU per post, whole run',
    measured: `${posts} posts (deliveries and acknowledgements); CPU of the bench process (handler, Management API client, the local Management API and WebSocket gateway; the clients are in a worker, counted too)`,
    result: `${ms(cpuPerPostMs)} per post`,
    target: '–',
    met: null,
  })
  const agents = plan.agents ? await measureDeliveryAgents(plan.agents, checks) : { rows: [], results: [] }
  rows.push(...agents.rows)
  const hundred = results.find((result) => result.connections === 100)
  const summary: SummaryEntry[] =
    hundred && first?.connections === 1 ? [atMost('fanout.100v1', hundred.ratio, 'ratio', HUNDRED_TARGET, `p50 of ${hundred.reps}`)] : []
  summary.push(atMost('fanout.cpuPerPost', cpuPerPostMs, 'ms', null, 'bench process CPU per PostToConnection, local gateway included'))
  const ours = agents.results.find((result) => result.variant.startsWith('ours, as deployed'))
  if (ours) {
    // No target: the is on the whole fan-out (fanout.100v1); this one shows the client's share.
    summary.push(atMost('fanout.client.100v1', ours.ratio, 'ratio', null, `the Management API client alone over TLS, p50 of ${ours.reps}`))
    summary.push(atMost('fanout.client.cpuPerPost', ours.cpuPerPostMs, 'ms', null, 'the Management API client alone: signing, HTTP, TLS'))
  }
  return { rows, data: { sizes: results, cpuPerPostMs, agents: agents.results }, summary }
}
