import { sql } from 'kysely'
import type { BenchStack } from './bench-stack.ts'
import type { ClientPool } from './client-pool.ts'
import type { ClientSpec } from './clients.ts'
import type { Checks, Row, Section } from './report.ts'
import { count, ms, round, summarize } from './stats.ts'

/**
 * Figure 3: real WebSocket clients (in the client worker) through the local stack. In each of
 * N conversations one participant sends, the next message as soon as the previous one is
 * acknowledged, for a fixed window; every message is checked acknowledged once and delivered
 * once with seq in send order (clients.ts `converse`), deliveries that arrive after a later seq
 * are counted, and afterwards the database must hold a gap-free seq per conversation.
 */

export interface EndToEndPlan {
  levels: number[]
  warmupMs: number
  durationMs: number
}

export interface EndToEndResult {
  conversations: number
  sent: number
  delivered: number
  elapsedMs: number
  messagesPerSecond: number
  latency: { p50: number; p99: number; max: number }
  statementsPerMessage: number
  /** Deliveries (warm-up included) that arrived after a later seq of their conversation. */
  overtaken: number
  /** Deliveries checked for exactly-once and seq order, warm-up included. */
  checkedDeliveries: number
  failures: number
}

export async function measureEndToEnd(
  bench: BenchStack,
  pool: ClientPool,
  plan: EndToEndPlan,
  checks: Checks,
): Promise<Section<EndToEndResult[]>> {
  const { stack } = bench
  const largest = Math.max(...plan.levels)
  const pairs = await bench.createPairs('e2e', largest)
  const specs: ClientSpec[] = []
  for (const [index, pair] of pairs.entries()) {
    specs.push({ key: `e2e-member-${index}`, token: await bench.token(pair.member) })
    specs.push({ key: `e2e-trainer-${index}`, token: await bench.token(pair.trainer) })
  }
  await pool.open(`${stack.wsUrl}/local`, specs)
  await pool.join(
    pairs.flatMap((pair, index) => [
      { key: `e2e-member-${index}`, conversationId: pair.conversationId },
      { key: `e2e-trainer-${index}`, conversationId: pair.conversationId },
    ]),
  )

  const results: EndToEndResult[] = []
  for (const level of plan.levels) {
    // Both directions: members send in even conversations, trainers in odd ones.
    const conversations = pairs.slice(0, level).map((pair, index) => {
      const member = `e2e-member-${index}`
      const trainer = `e2e-trainer-${index}`
      return index % 2 === 0
        ? { conversationId: pair.conversationId, senderKey: member, recipientKey: trainer }
        : { conversationId: pair.conversationId, senderKey: trainer, recipientKey: member }
    })
    const warmup = await pool.converse({ label: `e2e-${level}-warmup`, durationMs: plan.warmupMs, conversations })
    for (const failure of warmup.failures) checks.fail(`end to end, ${level} conversations (warm-up): ${failure}`)
    await stack.ws.idle()

    const before = bench.statements()
    const run = await pool.converse({ label: `e2e-${level}`, durationMs: plan.durationMs, conversations })
    await stack.ws.idle()
    const statements = bench.statements() - before
    for (const failure of run.failures) checks.fail(`end to end, ${level} conversations: ${failure}`)
    checks.expect(run.sent > 0, `end to end, ${level} conversations: nothing was sent`)
    const latency = summarize(run.latencies)
    results.push({
      conversations: level,
      sent: run.sent,
      delivered: run.delivered,
      elapsedMs: round(run.elapsedMs),
      messagesPerSecond: round(run.delivered / (run.elapsedMs / 1000), 1),
      latency: { p50: round(latency.p50), p99: round(latency.p99), max: round(latency.max) },
      statementsPerMessage: round(statements / Math.max(1, run.sent), 3),
      overtaken: warmup.overtaken + run.overtaken,
      checkedDeliveries: warmup.delivered + run.delivered,
      failures: run.failures.length + warmup.failures.length,
    })
  }

  // Stored side: per conversation, seq must run 1..last_seq without a gap or a duplicate.
  const { rows: broken } = await sql<{ id: string }>`
    SELECT cv.id FROM conversations cv LEFT JOIN messages m ON m.conversation_id = cv.id
    WHERE cv.id IN (${sql.join(pairs.map((pair) => pair.conversationId))})
    GROUP BY cv.id, cv.last_seq
    HAVING count(m.id) <> cv.last_seq OR coalesce(max(m.seq), 0) <> cv.last_seq OR count(DISTINCT m.seq) <> count(m.id)`.execute(stack.db)
  checks.expect(broken.length === 0, `end to end: ${broken.length} conversations have gaps or duplicates in seq`)
  const { errorFrames } = await pool.counts(true)
  for (const frame of errorFrames) checks.fail(`end to end: unexpected error frame ${frame}`)
  await pool.close(specs.map((spec) => spec.key))

  const base = results[0]
  const rows: Row[] = results.map((result) => ({
    figure: '3 End to end',
    case: `${result.conversations} concurrent conversation${result.conversations === 1 ? '' : 's'}`,
    measured:
      `${count(result.delivered)} messages in ${(result.elapsedMs / 1000).toFixed(1)} s; ` +
      `send→receive p50 ${ms(result.latency.p50)} / p99 ${ms(result.latency.p99)}; ` +
      `${result.statementsPerMessage.toFixed(2)} statements per message; ` +
      `${result.overtaken} deliveries overtaken by a later seq`,
    result:
      `${count(Math.round(result.messagesPerSecond))} msg/s` +
      (base && base !== result ? ` (${(result.messagesPerSecond / base.messagesPerSecond).toFixed(1)}× 1 conversation)` : ''),
    target: 'each delivered once, seq in send order',
    met: result.failures === 0 && result.delivered === result.sent,
  }))
  const overtaken = results.reduce((total, result) => total + result.overtaken, 0)
  const deliveries = results.reduce((total, result) => total + result.checkedDeliveries, 0)
  rows.push({
    figure: '3 End to end',
    case: 'arrival order, all levels',
    measured: `deliveries that arrived after a later seq of their conversation (warm-ups included; clients order by seq)`,
    result: `${overtaken} of ${count(deliveries)}`,
    target: '0',
    met: overtaken === 0,
  })
  return { rows, data: results }
}
