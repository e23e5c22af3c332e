/** The one table the bench prints, and the correctness checks that decide its exit code. */

export interface Row {
  /** e.g. `1 Handler overhead` */
  figure: string
  case: string
  /** The raw measurements behind the figure, for the reader. */
  measured: string
  /** The figure itself: a ratio or a count from this run. */
  result: string
  target: string
  /** null when the row has no target. */
  met: boolean | null
}

/**
 * One figure a script can check without parsing the table: `id` is stable across runs
 * (`handler.send.floorRatio`, `bundle.ws-typing.kb`, ...), `met` is `value <= target`, and both
 * are null when the figure has no target.
 */
export interface SummaryEntry {
  id: string
  value: number
  unit: 'ratio' | 'kB' | 'ms' | 'count' | 'per second'
  target: number | null
  met: boolean | null
  /** What was measured when it differs from what the id says (the sizes of a --quick run, say). */
  detail?: string
}

export interface Section<D = unknown> {
  rows: Row[]
  data: D
  summary?: SummaryEntry[]
}

/** An entry whose target is an upper bound; a value that could not be measured (NaN) misses it. */
export function atMost(id: string, value: number, unit: SummaryEntry['unit'], target: number | null, detail?: string): SummaryEntry {
  const rounded = Number.isFinite(value) ? Math.round(value * 1000) / 1000 : Number.NaN
  return {
    id,
    value: rounded,
    unit,
    target,
    met: target === null ? null : Number.isFinite(value) && value <= target,
    ...(detail === undefined ? {} : { detail }),
  }
}

/**
 * Correctness failures (a message lost, duplicated or reordered, an error frame where none was
 * expected). Timing never fails the bench; any of these does.
 */
export class Checks {
  readonly failures: string[] = []
  /** What a run left out (a figure not reached in its time); reported, never failing. */
  readonly notes: string[] = []

  note(message: string): void {
    if (this.notes.length < 200) this.notes.push(message)
  }

  fail(message: string): void {
    if (this.failures.length < 200) this.failures.push(message)
  }

  expect(condition: boolean, message: string): void {
    if (!condition) this.fail(message)
  }
}

export function formatTable(rows: readonly Row[]): string {
  const header = ['Figure', 'Case', 'Measured', 'Result', 'Target', 'Met']
  const cells = rows.map((row) => [
    row.figure,
    row.case,
    row.measured,
    row.result,
    row.target,
    row.met === null ? '–' : row.met ? 'yes' : '**no**',
  ])
  const escape = (cell: string) => cell.replaceAll('|', '\\|')
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((row) => escape(row[i] as string).length)))
  const line = (row: string[]) => `| ${row.map((cell, i) => escape(cell).padEnd(widths[i] as number)).join(' | ')} |`
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...cells.map(line)].join('\n')
}
