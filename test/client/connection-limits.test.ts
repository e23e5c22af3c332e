import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { assertExactlyOnce, exchangeMessages, startExchange, until } from './support.ts'

/**
 * API Gateway's limits, shortened (idle 6 s, at most 9.5 s per connection), and tokens that expire
 * every few seconds: the SDK's heartbeat, its proactive reconnect and its fresh-token retry keep
 * the exchange exactly once and in order.
 */
const LIMITS = { wsIdleTimeoutSeconds: 6, wsMaxConnectionSeconds: 9.5 }

const PER_SIDE = 50
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let stack: TestStack
before(async () => {
  stack = await startTestStack(LIMITS)
})
after(() => stack.close())

describe('connections that stay up', () => {
  test('heartbeats beat the idle timeout; the member replaces its connection before the limit, the trainer reconnects after it', async () => {
    const exchange = await startExchange(
      stack,
      'sdk-limits',
      { pingIntervalMs: 1000, maxConnectionMs: 3500 },
      { pingIntervalMs: 1000, maxConnectionMs: 60 * 60_000 },
    )
    const { member, trainer } = exchange
    try {
      // Quiet spells longer than the idle timeout between bursts, for longer than a connection may live.
      const sent = await exchangeMessages(exchange, PER_SIDE, async () => {
        for (let i = 0; i < 2; i++) await pause(6500)
      })
      // Both have outlived a connection's maximum lifetime at least once by now.
      await until(
        () => member.net.dials >= 3 && trainer.net.closes.some((c) => c.reason.includes('maximum connection duration')),
        'a rotation by the member and a cut by the server for the trainer',
        180_000,
      )

      await assertExactlyOnce(stack, exchange, sent, PER_SIDE)
      const reasons = [...member.net.closes, ...trainer.net.closes].map((c) => c.reason)
      assert.ok(!reasons.some((reason) => reason.includes('idle')), `no connection idled out: ${reasons.join(', ')}`)
      assert.ok(
        !member.net.closes.some((c) => c.reason.includes('maximum connection duration')),
        'the member always moved to a new connection before the server cut the old one',
      )
    } finally {
      await exchange.close()
    }
  })

  test('tokens that expire mid-exchange are replaced by fresh ones; nothing is lost', async () => {
    const exchange = await startExchange(stack, 'sdk-tokens', { pingIntervalMs: 1000, tokenSeconds: 6 })
    const { member, trainer } = exchange
    try {
      // Pings keep the connections open (API Gateway answers them without looking at the token)
      // while the tokens run out; the first sends then meet `unauthorized`.
      await pause(6500)
      const sent = await exchangeMessages(exchange, PER_SIDE)

      await assertExactlyOnce(stack, exchange, sent, PER_SIDE)
      assert.ok(member.net.unauthorized >= 1 && trainer.net.unauthorized >= 1, 'both met an expired token')
      assert.ok(member.tokens >= 2 && trainer.tokens >= 2, 'each asked for a fresh token')
      assert.equal(member.client.state, 'open')
    } finally {
      await exchange.close()
    }
  })
})
