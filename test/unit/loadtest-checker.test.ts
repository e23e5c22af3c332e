import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { tallyRequests, type TrackedRequest } from '../load/loadtest.ts'

/** The load test's checker sees every answer to every request (#11 item 4), not only the last. */

const request = (requestId: string, ...frames: Array<Record<string, unknown>>): TrackedRequest => ({
  requestId,
  action: 'sendMessage',
  at: 0,
  replies: frames.map((frame, i) => ({ frame: { ...frame, requestId }, at: i + 1 })),
})
const ack = { type: 'newMessage', message: { id: 'm-1' } }
const internal = { type: 'error', code: 'internal', message: 'Something went wrong; please retry' }

describe('the load test checker: one request, one answer', () => {
  test('a request answered once is fine, whatever the answer', () => {
    const { tally, problems } = tallyRequests([request('a#1', ack), request('b#1', internal)])
    assert.deepEqual(problems, [])
    assert.deepEqual(tally, { sent: 2, answeredOnce: 2, unanswered: 0, answeredMoreThanOnce: 0, acknowledgedThenError: 0 })
  })

  test('an acknowledgement followed by an error fails, and says so', () => {
    const { tally, problems } = tallyRequests([request('a#1', ack, internal)])
    assert.equal(tally.acknowledgedThenError, 1)
    assert.equal(tally.answeredMoreThanOnce, 1)
    assert.deepEqual(problems, [['a sendMessage request answered with an error after its acknowledgement', 'a#1: 2 answers (newMessage, error internal)']])
  })

  test('two answers of any kind, and no answer, fail', () => {
    const { tally, problems } = tallyRequests([request('a#1', internal, ack), request('b#1')])
    assert.deepEqual(tally, { sent: 2, answeredOnce: 0, unanswered: 1, answeredMoreThanOnce: 1, acknowledgedThenError: 0 })
    assert.deepEqual(problems, [
      ['a sendMessage request answered more than once', 'a#1: 2 answers (error internal, newMessage)'],
      ['a sendMessage request never answered', 'b#1'],
    ])
  })
})
