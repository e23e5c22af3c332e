import { watch, type FSWatcher } from 'node:fs'
import { register } from 'node:module'
import { relative, sep } from 'node:path'

/**
 * Reload on change for the local stack. Lambda replaces a function's code without touching
 * API Gateway's connections; the local stack does the same: when a file under lambdas/ or
 * migrations/ changes, it loads a fresh copy of local/functions.ts and everything of ours it
 * imports (a new "generation": every module URL gets `?generation=N`, see reload-hooks.mjs),
 * applies any new migration, builds every handler with its factories over the same database and
 * settings (the same `buildHandlers` the stack starts with), and from then on invokes the new
 * handlers. Kept: every WebSocket connection and its authorizer context, the database and its
 * data, the ports, the issuer's key, the AWS edge's state. Dropped: whatever the handler
 * modules held in memory (a container's caches: the JWKS, the per-connection typing buckets,
 * the SDK clients), as on a Lambda deploy. Invocations already running finish on the old code.
 * Changes to local/ itself (the gateways) need a restart, and say so.
 */

export type Functions = typeof import('./functions.ts')

const FUNCTIONS_URL = new URL('./functions.ts', import.meta.url).href
let hooksRegistered = false

/** Generation 0 is the ordinary import (shared with tests); later ones are fresh copies. */
export async function loadFunctions(generation = 0): Promise<Functions> {
  if (generation === 0) return import('./functions.ts')
  if (!hooksRegistered) {
    register('./reload-hooks.mjs', import.meta.url)
    hooksRegistered = true
  }
  return (await import(`${FUNCTIONS_URL}?generation=${generation}`)) as Functions
}

export interface SourceWatcher {
  close(): void
}

/**
 * Watches `dirs` (under `root`) and calls `onChange` with the changed files, relative to root,
 * once things have been quiet for `debounceMs` (an editor's save is often several events).
 */
export function watchSources(root: string, dirs: readonly string[], onChange: (files: string[]) => void, debounceMs = 150): SourceWatcher {
  const pending = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  const watchers: FSWatcher[] = dirs.map((dir) =>
    watch(`${root}${sep}${dir}`, { recursive: true, persistent: false }, (_event, name) => {
      if (!name || !/\.(ts|mts|js|mjs|json)$/.test(name)) return
      pending.add(relative(root, `${root}${sep}${dir}${sep}${name}`))
      clearTimeout(timer)
      timer = setTimeout(() => {
        const files = [...pending].sort()
        pending.clear()
        onChange(files)
      }, debounceMs)
    }),
  )
  return {
    close() {
      clearTimeout(timer)
      for (const watcher of watchers) watcher.close()
    },
  }
}
