import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startTestStack, type TestStack } from '../helpers/stack.ts'
import { assertExactlyOnce, exchangeMessages, startExchange, until } from './support.ts'

/**
 * The SDK end to end, real sockets through the local stack: a member and a trainer exchange
 * messages while the stack restarts, sockets die mid-send and the network goes away. Each time:
 * every message reaches each side once, in seq order; every send resolves with the stored
 * message; nothing is stored twice.
 */

const PER_SIDE = 60

let stack: TestStack
before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

describe('the client SDK keeps exactly-once, in-order delivery', () => {
  test('while the whole stack restarts on the same data in the middle of the exchange', async () => {
    const exchange = await startExchange(stack, 'sdk-restart')
    try {
      const sent = await exchangeMessages(exchange, PER_SIDE, async ({ acked }) => {
        await until(() => acked() >= PER_SIDE / 2, 'half the messages acknowledged')
        await stack.restart()
      })

      await assertExactlyOnce(stack, exchange, sent, PER_SIDE)
      assert.ok(exchange.member.net.dials >= 2 && exchange.trainer.net.dials >= 2, 'both reconnected')
    } finally {
      await exchange.close()
    }
  })

  test('while the server drops their sockets mid-send, again and again', async () => {
    const exchange = await startExchange(stack, 'sdk-drops')
    let drops = 0
    try {
      const sent = await exchangeMessages(exchange, PER_SIDE, async ({ acked }) => {
        for (let round = 1; round <= 4; round++) {
          await until(() => acked() >= (round * PER_SIDE * 2) / 5, `round ${round}`)
          // Both apps back on the server before each drop: a round reached while one was still
          // redialling (sends ack faster than a reconnect) would drop only the other socket.
          await until(() => stack.ws.connectionIds().length >= 2, `round ${round}: both connected`)
          // As when API Gateway loses the connection: the socket is destroyed, no $disconnect runs.
          for (const id of stack.ws.connectionIds()) {
            stack.ws.dropWithoutDisconnect(id)
            drops++
          }
        }
      })

      await assertExactlyOnce(stack, exchange, sent, PER_SIDE)
      assert.ok(drops >= 8, `sockets dropped: ${drops}`)
    } finally {
      await exchange.close()
    }
  })

  test('when messages are sent offline and the network comes back', async () => {
    const exchange = await startExchange(stack, 'sdk-offline')
    const { member, trainer } = exchange
    try {
      const sent = await exchangeMessages(exchange, PER_SIDE, async ({ acked }) => {
        await until(() => acked() >= 10, 'a few messages acknowledged')
        member.net.online = false
        trainer.net.online = false
        for (const id of stack.ws.connectionIds()) stack.ws.dropWithoutDisconnect(id)
        // Both keep trying (and failing) to reconnect while their sends wait in the outbox.
        const dialsBefore = member.net.dials + trainer.net.dials
        await until(() => member.client.state === 'offline' && trainer.client.state === 'offline', 'both offline')
        await until(() => member.net.dials + trainer.net.dials >= dialsBefore + 4, 'reconnect attempts while offline')
        const ackedWhileOffline = acked()
        member.net.online = true
        trainer.net.online = true
        assert.ok(ackedWhileOffline < PER_SIDE * 2, 'sends were waiting while offline')
      })

      await assertExactlyOnce(stack, exchange, sent, PER_SIDE)
      assert.ok(member.retries.includes('connect'), 'the member backed off while offline')
    } finally {
      await exchange.close()
    }
  })
})
