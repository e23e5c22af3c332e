import { MAX_SERVER_FRAME_BYTES, type ServerFrameOf } from '@trainer-chat/protocol'
import type { Message } from './model.ts'

/**
 * A `conversationHistory` page is bounded by bytes as well as by count: API Gateway refuses a
 * PostToConnection payload over 128 KB, and nine legal messages of 4,000 emoji already weigh
 * 146 KB. Two bounds keep every page under it:
 *
 * 1. The join statement walks the page in its order (newest first for the latest page, oldest
 *    first after `afterSeq`) keeping a running sum of each message's JSON as PostgreSQL renders
 *    it (wider than ours: `"key" : value` separators, microsecond timestamps) plus a reserve for
 *    the download URL an attachment gets after the statement, and stops before the sum passes
 *    HISTORY_STATEMENT_BUDGET_BYTES. Fields added to the message JSON in SQL are counted as they
 *    are; the 32 KB left under the limit is for the envelope and anything added afterwards.
 * 2. `historyFrame` measures the frame it builds, as it will be sent, and drops messages from
 *    the far end of the page until it fits. After bound 1 this drops nothing; it is what makes
 *    "no history frame over the limit" true whatever the messages carry.
 *
 * The first message of the walk is always kept (one message is far below the limit), so paging
 * always makes progress: a page that ends early has `hasMore` and at least one message.
 */

/** What the join statement lets a page's messages weigh, as PostgreSQL measures their JSON. */
export const HISTORY_STATEMENT_BUDGET_BYTES = 96 * 1024

/**
 * Reserved per attachment for its presigned download URL: the endpoint, key, SigV4 parameters
 * and a Lambda session token (about 1–2 KB) ...
 */
export const ATTACHMENT_URL_RESERVE_BYTES = 4096
/**
 * ... plus, per UTF-8 byte of the file name, what the name costs in the URL's
 * `response-content-disposition` (RFC 8187 percent-encoding, `%` percent-encoded again in the
 * query string: 5 bytes; the ASCII fallback name, percent-encoded: at most 3).
 */
export const ATTACHMENT_URL_BYTES_PER_NAME_BYTE = 8

export type HistoryFrame = ServerFrameOf<'conversationHistory'>

const encoder = new TextEncoder()

/** The size of a frame as the delivery adapter sends it (UTF-8 JSON). */
export function frameBytes(frame: unknown): number {
  return encoder.encode(JSON.stringify(frame)).length
}

/**
 * The history frame for a page, trimmed to MAX_SERVER_FRAME_BYTES. `keep` says which end of the
 * page the walk started from: `newest` (the latest page: older messages are dropped first) or
 * `oldest` (a catch-up page after `afterSeq`: newer ones are dropped first). Dropping any sets
 * `hasMore`. Messages stay oldest first.
 */
export function historyFrame(
  page: { conversationId: string; messages: readonly Message[]; hasMore: boolean; requestId?: string | undefined },
  keep: 'newest' | 'oldest',
  limitBytes: number = MAX_SERVER_FRAME_BYTES,
): { frame: HistoryFrame; dropped: number } {
  const build = (messages: Message[], hasMore: boolean): HistoryFrame => ({
    type: 'conversationHistory',
    conversationId: page.conversationId,
    messages,
    hasMore,
    ...(page.requestId === undefined ? {} : { requestId: page.requestId }),
  })
  const whole = build([...page.messages], page.hasMore)
  if (frameBytes(whole) <= limitBytes) return { frame: whole, dropped: 0 }

  // Walk from the kept end, adding each message's encoded size and its comma, until the next
  // one would not fit; the first one is kept whatever it weighs.
  const walk = keep === 'newest' ? [...page.messages].reverse() : [...page.messages]
  let total = frameBytes(build([], true))
  let count = 0
  for (const message of walk) {
    const next = total + frameBytes(message) + (count > 0 ? 1 : 0)
    if (count > 0 && next > limitBytes) break
    total = next
    count += 1
  }
  const kept = walk.slice(0, count)
  if (keep === 'newest') kept.reverse()
  const dropped = page.messages.length - count
  return { frame: build(kept, page.hasMore || dropped > 0), dropped }
}
