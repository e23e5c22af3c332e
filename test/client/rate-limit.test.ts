import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { assertExactlyOnce, exchangeMessages, startExchange } from './support.ts'

/** Sending faster than the per-user rate limit: the SDK waits out each retryAfterMs and stores every message once. */
process.env.RATE_LIMIT_BURST = '2'
process.env.RATE_LIMIT_PER_SECOND = '1'

const PER_SIDE = 12

let stack: TestStack
before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

test('sends faster than the rate limit are retried after retryAfterMs with the same clientMessageId', async () => {
  const exchange = await startExchange(stack, 'sdk-rate')
  try {
    const sent = await exchangeMessages(exchange, PER_SIDE)

    await assertExactlyOnce(stack, exchange, sent, PER_SIDE)
    const limited = exchange.member.retries.filter((reason) => reason === 'rate_limited').length
    assert.ok(limited > 0, 'the member was rate limited')
    assert.ok(exchange.trainer.retries.includes('rate_limited'), 'the trainer was rate limited')
  } finally {
    await exchange.close()
  }
})
