import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createThrottle } from '../../lambdas/core/throttle.ts'

/** The in-memory token bucket used for typing indicators, on a clock the test moves. */

function clock(start = 1_000_000) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('createThrottle', () => {
  test('lets a burst through, then refuses until a token has refilled', () => {
    const time = clock()
    const throttle = createThrottle({ burst: 3, perSecond: 2, now: time.now })

    assert.deepEqual([1, 2, 3, 4].map(() => throttle.allow('a')), [true, true, true, false])
    time.advance(499)
    assert.equal(throttle.allow('a'), false)
    time.advance(1)
    assert.equal(throttle.allow('a'), true)
  })

  test('keys are independent', () => {
    const throttle = createThrottle({ burst: 1, perSecond: 1, now: clock().now })
    assert.equal(throttle.allow('a'), true)
    assert.equal(throttle.allow('a'), false)
    assert.equal(throttle.allow('b'), true)
  })

  test('refills no further than the burst', () => {
    const time = clock()
    const throttle = createThrottle({ burst: 2, perSecond: 10, now: time.now })
    throttle.allow('a')
    time.advance(60_000)
    assert.deepEqual([1, 2, 3].map(() => throttle.allow('a')), [true, true, false])
  })

  test('remembers at most maxKeys keys, forgetting the least recently used (which only lets more through)', () => {
    const throttle = createThrottle({ burst: 1, perSecond: 0.001, maxKeys: 2, now: clock().now })
    throttle.allow('a')
    throttle.allow('b')
    throttle.allow('a')
    throttle.allow('c')

    assert.equal(throttle.allow('a'), false, 'a was used recently and is remembered (empty)')
    assert.equal(throttle.allow('b'), true, 'b was forgotten: a fresh bucket')
  })

  test('a clock that steps back refills nothing', () => {
    const time = clock()
    const throttle = createThrottle({ burst: 1, perSecond: 1, now: time.now })
    throttle.allow('a')
    time.advance(-5000)
    assert.equal(throttle.allow('a'), false)
  })
})
