/**
 * An adapter whose module (and the SDK client it pulls in) is imported on its first call. The
 * S3 and SNS clients are large; handlers that never touch a file or a push (typing, connect,
 * most sends) then never evaluate them, which keeps their cold start where it was.
 */
export function loadOnFirstUse<T extends object>(load: () => Promise<T>, methods: readonly (keyof T & string)[]): T {
  let loading: Promise<T> | undefined
  const target = () =>
    (loading ??= load().catch((error: unknown) => {
      // A failed load (rare: a bad bundle) is retried on the next call rather than cached.
      loading = undefined
      throw error
    }))
  const forwarded = methods.map((name) => [
    name,
    async (...args: unknown[]) => {
      const adapter = await target()
      return (adapter[name] as (...params: unknown[]) => unknown).apply(adapter, args)
    },
  ])
  return Object.fromEntries(forwarded) as T
}
