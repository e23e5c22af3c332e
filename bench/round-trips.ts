import type { BenchStack } from './bench-stack.ts'
import { MESSAGE_BODY, type Invoker } from './invoke.ts'
import type { Row, Section } from './report.ts'
import { settle } from './stats.ts'

/**
 * Figure 2: database statements per action, counted through Kysely's `log` hook on the very
 * instance the handlers use (the local stack's `onQuery`), around real handler invocations.
 */

export interface RoundTripResult {
  action: string
  runs: number
  min: number
  max: number
  target: number | null
}

const RUNS = 5

export async function countRoundTrips(bench: BenchStack, invoker: Invoker): Promise<Section<RoundTripResult[]>> {
  const { member, trainer, pair, store } = invoker
  const conversationId = pair.conversationId
  let sequence = 0
  const next = () => `rt-${Date.now().toString(36)}-${sequence++}`

  const count = async (action: () => Promise<unknown>) => {
    await settle()
    const before = bench.statements()
    await action()
    return bench.statements() - before
  }

  interface Case {
    action: string
    target: number | null
    prepare?: () => Promise<string>
    run(prepared: string): Promise<unknown>
    cleanup?: (prepared: string) => Promise<unknown>
  }
  const retried = next()
  await invoker.route('sendMessage', member, { conversationId, clientMessageId: retried, body: MESSAGE_BODY })
  const cases: Case[] = [
    {
      action: 'sendMessage',
      target: 1,
      run: () => invoker.route('sendMessage', member, { requestId: next(), conversationId, clientMessageId: next(), body: MESSAGE_BODY }),
    },
    {
      action: 'sendMessage (retried clientMessageId)',
      target: 1,
      run: () => invoker.route('sendMessage', member, { requestId: next(), conversationId, clientMessageId: retried, body: MESSAGE_BODY }),
    },
    { action: 'typing', target: 1, run: () => invoker.route('typing', member, { conversationId, isTyping: true }) },
    {
      action: 'markAsRead',
      target: 1,
      prepare: async () => {
        const result = await store.sendMessage({ connectionId: member.connectionId, conversationId, clientMessageId: next(), body: MESSAGE_BODY })
        return result.message?.id ?? ''
      },
      run: (messageId) => invoker.route('markAsRead', trainer, { requestId: next(), conversationId, messageId }),
    },
    { action: 'joinConversation', target: null, run: () => invoker.route('joinConversation', member, { requestId: next(), conversationId }) },
    {
      action: 'leaveConversation',
      target: null,
      run: () => invoker.route('leaveConversation', member, { requestId: next(), conversationId }),
      cleanup: () => invoker.route('joinConversation', member, { requestId: next(), conversationId }),
    },
    {
      action: '$connect (authorizer + route)',
      target: 1,
      run: async () => (await invoker.connect(member)).connectionId,
    },
    {
      action: '$disconnect',
      target: null,
      prepare: async () => (await invoker.connect(member)).connectionId,
      run: (connectionId) => invoker.disconnect(member, connectionId),
    },
  ]

  const results: RoundTripResult[] = []
  for (const testCase of cases) {
    const counts: number[] = []
    for (let run = 0; run < RUNS; run++) {
      const prepared = testCase.prepare ? await testCase.prepare() : ''
      let outcome: unknown
      counts.push(
        await count(async () => {
          outcome = await testCase.run(prepared)
        }),
      )
      if (testCase.cleanup) await testCase.cleanup(prepared)
      // A connection opened by the $connect case is closed again, untimed.
      if (typeof outcome === 'string' && testCase.action.startsWith('$connect')) await invoker.disconnect(member, outcome)
    }
    results.push({ action: testCase.action, runs: RUNS, min: Math.min(...counts), max: Math.max(...counts), target: testCase.target })
  }

  const rows: Row[] = results.map((result) => ({
    figure: '2 Round trips',
    case: result.action,
    measured: `statements per invocation over ${result.runs} runs: ${result.min === result.max ? result.min : `${result.min}–${result.max}`}`,
    result: String(result.max),
    target: result.target === null ? '–' : String(result.target),
    met: result.target === null ? null : result.max <= result.target,
  }))
  return { rows, data: results }
}
