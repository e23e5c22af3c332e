import type * as z from 'zod/mini'

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

export function validationIssues(issues: readonly z.core.$ZodIssue[], where: ValidationIssue['in']): ValidationIssue[] {
  return issues.map((issue) => ({ in: where, path: issue.path.join('.'), code: issue.code, message: describeIssue(issue) }))
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
export function nulIssues(value: unknown, where: ValidationIssue['in'], path: readonly string[] = []): ValidationIssue[] {
  if (typeof value === 'string') {
    return value.includes('\u0000') ? [{ in: where, path: path.join('.'), code: 'invalid_string', message: 'must not contain NUL characters' }] : []
  }
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, item]) => nulIssues(item, where, [...path, key]))
}
