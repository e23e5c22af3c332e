/**
 * One error family for everything the product refuses on purpose. Each carries the protocol
 * code the client sees; the HTTP status is derived from it. Anything that is not a ChatError
 * is a bug or an outage and is reported to clients as `internal` with no details.
 */
import { ERROR_STATUS, type ErrorCode } from '@trainer-chat/protocol/server'
import type * as z from 'zod/mini'

export { ERROR_STATUS, type ErrorCode }

export class ChatError extends Error {
  override readonly name = 'ChatError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.details = details
  }

  get status(): number {
    return ERROR_STATUS[this.code]
  }
}

export const isChatError = (error: unknown): error is ChatError => error instanceof ChatError

/** `value` when there is one; else the request is refused `not_found` with `message`. */
export function requireFound<T>(value: T | null | undefined, message: string): T {
  if (value === null || value === undefined) throw new ChatError('not_found', message)
  return value
}

/**
 * The one mapping from anything thrown to what a client may see: a ChatError as it is, anything
 * else as `internal` with no details. `unexpected` says whether it is a bug or an outage worth an
 * error log line (the caller logs it with its own context: route, connection).
 */
export function publicError(error: unknown): { error: ChatError; unexpected: boolean } {
  if (isChatError(error)) return { error, unexpected: false }
  return { error: new ChatError('internal', 'Something went wrong; please retry'), unexpected: true }
}

/** What may be logged of an unexpected error: its name, message and code, never request data. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { errorName: error.name, errorMessage: error.message, ...(code === undefined ? {} : { errorCode: code }) }
  }
  return { errorName: typeof error }
}

// ---- validation problems, as `bad_request` details ----

/**
 * One shape for every validation problem, in WebSocket `error` frames and REST error bodies
 * alike: `details.issues` is a list of `{in, path, code, message}`, where `in` says which part
 * of the request (`frame` for a WebSocket frame; `path`, `query` or `body` for REST), `path`
 * the field (dot-separated, empty for the whole part), `code` zod's issue code and `message`
 * the problem in words.
 */
export interface ValidationIssue {
  in: 'frame' | 'path' | 'query' | 'body'
  path: string
  code: string
  message: string
}

/**
 * At most this many issues are reported, each path cut to MAX_ISSUE_PATH_CHARS: the problems are
 * written back to the client, and a hostile 128 KB frame (thousands of bad keys, one 100 KB key)
 * must not become an error frame over API Gateway's 128 KB limit.
 */
export const MAX_REPORTED_ISSUES = 10
export const MAX_ISSUE_PATH_CHARS = 100

export function validationIssues(issues: readonly z.core.$ZodIssue[], where: ValidationIssue['in']): ValidationIssue[] {
  return issues
    .slice(0, MAX_REPORTED_ISSUES)
    .map((issue) => ({ in: where, path: issuePath(issue.path.map(String)), code: issue.code, message: describeIssue(issue) }))
}

function issuePath(path: readonly string[]): string {
  const joined = path.join('.')
  return joined.length <= MAX_ISSUE_PATH_CHARS ? joined : `${joined.slice(0, MAX_ISSUE_PATH_CHARS - 1)}…`
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`
    case 'invalid_format':
      return `must be a ${issue.format === 'guid' ? 'UUID' : issue.format}`
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`
    default:
      return 'is invalid'
  }
}

/**
 * NUL characters anywhere in a request's strings: PostgreSQL cannot store U+0000 in text and
 * would fail the statement (an `internal`), so they are refused up front as validation problems.
 */
export function nulIssues(value: unknown, where: ValidationIssue['in']): ValidationIssue[] {
  // An explicit stack of (value, key, parent) instead of recursion and path copies: JSON nested
  // 50,000 deep must neither overflow the call stack nor cost a path per level.
  interface Step {
    value: unknown
    key?: string
    parent?: Step
  }
  const pathOf = (step: Step): string[] => {
    const path: string[] = []
    for (let at: Step | undefined = step; at?.key !== undefined; at = at.parent) path.push(at.key)
    return path.reverse()
  }
  const issues: ValidationIssue[] = []
  const pending: Step[] = [{ value }]
  while (pending.length > 0 && issues.length < MAX_REPORTED_ISSUES) {
    const step = pending.pop() as Step
    if (typeof step.value === 'string') {
      if (step.value.includes('\u0000')) {
        issues.push({ in: where, path: issuePath(pathOf(step)), code: 'invalid_string', message: 'must not contain NUL characters' })
      }
    } else if (step.value !== null && typeof step.value === 'object') {
      const entries = Object.entries(step.value)
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i] as [string, unknown]
        pending.push({ value: child, key, parent: step })
      }
    }
  }
  return issues
}
