import { sql } from 'kysely'
import { initialRole } from '../lambdas/core/model.ts'
import type { BenchStack, BenchUser, Pair } from './bench-stack.ts'
import { MESSAGE_BODY, type Invoker } from './invoke.ts'
import { atMost, type Checks, type Row, type Section, type SummaryEntry } from './report.ts'
import { ms, ratio, rotate, roundSummary, scale, settle, summarize, type Summary } from './stats.ts'

/**
 * Figure 7: the offline push badge (issue 12 item 3). The send statement computes the push
 * target, badge included, when the recipient has no live connection and an enabled device. Three
 * sends take turns, each through the store call (the send statement, one round trip):
 *
 * - ordinary: the recipient is online, so no push target is computed;
 * - push: the recipient is offline with a device and a small backlog (the sends of this figure);
 * - push with backlog: the same, the recipient holding `backlog` unread messages (10^5).
 *
 * Also timed, for the record: the count the send statement ran before migration 0013 (every unread
 * message of the recipient), as a query of its own on the backlog. The badge of every push send
 * is checked against a recount.
 */

/** Issue 12 target 3: the send with a 10^5 backlog within 1.2× the ordinary send, at p50. */
const BACKLOG_TARGET = 1.2

export interface PushBadgePlan {
  backlog: number
  warmup: number
  iterations: number
  timeLimitMs: number
}

export interface PushBadgeResult {
  backlog: number
  iterations: number
  ordinary: Summary
  push: Summary
  backlogPush: Summary
  /** The pre-0013 badge count on the backlog, alone. */
  oldCount: Summary
  backlogRatioP50: number
  pushRatioP50: number
}

const OLD_BADGE_COUNT = (recipientId: string) => sql<{ count: string | number }>`
  SELECT count(*) FROM messages um JOIN conversations uc ON uc.id = um.conversation_id
  WHERE (uc.member_id = ${recipientId} OR uc.trainer_id = ${recipientId}) AND um.sender_id <> ${recipientId}
    AND um.read_at IS NULL AND um.hidden_at IS NULL`

export async function measurePushBadge(bench: BenchStack, invoker: Invoker, plan: PushBadgePlan, checks: Checks): Promise<Section<PushBadgeResult>> {
  const { store, db } = invoker
  const [ordinaryPair, pushPair, backlogPair] = (await bench.createPairs('badge', 3)) as [Pair, Pair, Pair]

  // Connections registered directly (the store call needs one for the sender; an online recipient needs one too).
  let connections = 0
  const connect = async (user: BenchUser) => {
    const connectionId = `badge-${connections++}-${Date.now().toString(36)}`
    const identity = { subject: user.subject, email: user.email, displayName: user.name, groups: user.groups }
    const result = await store.connect({ connectionId, identity, initialRole: initialRole(user.groups), tokenExpiresAt: new Date(Date.now() + 3_600_000), maxConnectionsPerUser: 10 })
    if (result.outcome !== 'connected') throw new Error(`push badge: could not connect ${user.subject} (${result.outcome})`)
    return connectionId
  }
  const senders = { ordinary: await connect(ordinaryPair.member), push: await connect(pushPair.member), backlog: await connect(backlogPair.member) }
  await connect(ordinaryPair.trainer)
  await db
    .insertInto('devices')
    .values([pushPair, backlogPair].map((pair, n) => ({ token: `badge-device-${n}-${Date.now()}`, user_id: pair.trainer.id, platform: 'ios' as const, endpoint_arn: `arn:aws:sns:us-east-1:000000000000:endpoint/APNS/bench/${n}` })))
    .execute()

  // The backlog: unread messages from the member to the offline trainer, in chunks that stay
  // well inside the handlers' statement timeout on a busy machine.
  const chunk = 10_000
  for (let from = 1; from <= plan.backlog; from += chunk) {
    const to = Math.min(plan.backlog, from + chunk - 1)
    await sql`
      WITH bumped AS (UPDATE conversations SET last_seq = ${to}::int WHERE id = ${backlogPair.conversationId} RETURNING id)
      INSERT INTO messages (conversation_id, seq, sender_id, body, client_message_id)
      SELECT b.id, s, ${backlogPair.member.id}, ${MESSAGE_BODY}, 'backlog-' || s FROM bumped b, generate_series(${from}::int, ${to}::int) s`.execute(db)
  }
  await sql`ANALYZE messages`.execute(db)

  let sequence = 0
  const expectedBadge = { push: 0, backlog: plan.backlog }
  const send = async (kind: 'ordinary' | 'push' | 'backlog', pair: Pair) => {
    const result = await store.sendMessage({ connectionId: senders[kind], conversationId: pair.conversationId, clientMessageId: `badge-${kind}-${sequence++}`, body: MESSAGE_BODY })
    return { kind, result }
  }
  type Outcome = Awaited<ReturnType<typeof send>>
  const variants = [
    { name: 'ordinary' as const, run: () => send('ordinary', ordinaryPair) },
    { name: 'push' as const, run: () => send('push', pushPair) },
    { name: 'backlog' as const, run: () => send('backlog', backlogPair) },
    { name: 'oldCount' as const, run: () => OLD_BADGE_COUNT(backlogPair.trainer.id).execute(db) },
  ]
  const samples = { ordinary: [] as number[], push: [] as number[], backlog: [] as number[], oldCount: [] as number[] }
  const deadline = Date.now() + plan.timeLimitMs
  let measured = 0
  for (let i = 0; i < plan.warmup + plan.iterations && Date.now() < deadline; i++) {
    for (const variant of rotate(variants, i)) {
      await settle()
      const started = performance.now()
      const outcome: unknown = await variant.run()
      const elapsed = performance.now() - started
      if (i >= plan.warmup) samples[variant.name].push(elapsed)
      if (variant.name === 'oldCount') continue
      const { kind, result } = outcome as Outcome
      checks.expect(result.verdict === 'ok' && result.message !== null, `push badge: ${kind} send answered ${result.verdict}`)
      if (kind === 'ordinary') {
        checks.expect(result.verdict === 'ok' && result.push === null, 'push badge: a push target for an online recipient')
        continue
      }
      expectedBadge[kind]++
      const badge = result.verdict === 'ok' ? result.push?.unreadCount : undefined
      checks.expect(badge === expectedBadge[kind], `push badge: ${kind} send's badge ${badge}, expected ${expectedBadge[kind]}`)
    }
    if (i >= plan.warmup) measured++
  }
  // The counter against a recount after the run.
  const recount = Number((await OLD_BADGE_COUNT(backlogPair.trainer.id).execute(db)).rows[0]?.count ?? Number.NaN)
  checks.expect(recount === expectedBadge.backlog, `push badge: recount ${recount}, the badges said ${expectedBadge.backlog}`)

  const ordinary = summarize(samples.ordinary)
  const push = summarize(samples.push)
  const backlogPush = summarize(samples.backlog)
  const oldCount = summarize(samples.oldCount)
  const result: PushBadgeResult = {
    backlog: plan.backlog,
    iterations: measured,
    ordinary: roundSummary(ordinary),
    push: roundSummary(push),
    backlogPush: roundSummary(backlogPush),
    oldCount: roundSummary(oldCount),
    backlogRatioP50: backlogPush.p50 / ordinary.p50,
    pushRatioP50: push.p50 / ordinary.p50,
  }
  const rows: Row[] = [
    {
      figure: '7 Push badge',
      case: `send to an offline recipient with ${scale(plan.backlog)} unread`,
      measured:
        `send with backlog p50 ${ms(backlogPush.p50)} / p99 ${ms(backlogPush.p99)}; push, small backlog p50 ${ms(push.p50)}; ` +
        `ordinary send (recipient online) p50 ${ms(ordinary.p50)}; the pre-0013 badge count alone p50 ${ms(oldCount.p50)} (n=${measured})`,
      result: `${ratio(result.backlogRatioP50)} the ordinary send (small backlog ${ratio(result.pushRatioP50)})`,
      target: `≤ ${BACKLOG_TARGET}× the ordinary send`,
      met: result.backlogRatioP50 <= BACKLOG_TARGET,
    },
  ]
  const summary: SummaryEntry[] = [
    atMost('push.badge.backlogRatio', result.backlogRatioP50, 'ratio', BACKLOG_TARGET, `p50 of ${measured}, ${scale(plan.backlog)} unread, send statement over the ordinary send`),
  ]
  return { rows, data: result, summary }
}
