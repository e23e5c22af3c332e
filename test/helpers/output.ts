/**
 * Everything the process writes to stdout and stderr while `run` runs: the logger writes there
 * (one JSON line per entry), so this is what CloudWatch would receive. Not safe to nest or overlap.
 * Every chunk is written through except our own log lines when `hideLogLines` is set: node's test
 * runner reports results over the same stdout, so swallowing anything else would lose test results.
 */
export async function captureOutput<T>(
  run: () => Promise<T>,
  options: { hideLogLines?: boolean } = {},
): Promise<{ result: T; output: string }> {
  const hide = (text: string) => options.hideLogLines === true && /^(\{"level":"\w+"[^\n]*\n)+$/.test(text)
  const chunks: string[] = []
  const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) }
  const tap =
    (original: typeof process.stdout.write) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8')
      chunks.push(text)
      return hide(text) ? true : (original as (chunk: unknown, ...rest: unknown[]) => boolean)(chunk, ...rest)
    }
  process.stdout.write = tap(originals.out) as typeof process.stdout.write
  process.stderr.write = tap(originals.err) as typeof process.stderr.write
  try {
    const result = await run()
    return { result, output: chunks.join('') }
  } finally {
    process.stdout.write = originals.out
    process.stderr.write = originals.err
  }
}
