/**
 * Module resolution hook for the local stack's reload (registered by local/reload.ts): a
 * project file imported by a module loaded as `…?generation=N` gets the same query, so a
 * generation re-evaluates every module of ours it reaches; packages under node_modules keep
 * one instance for the whole process.
 */
const GENERATION = /[?&]generation=(\d+)/

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context)
  const generation = context.parentURL ? GENERATION.exec(context.parentURL)?.[1] : undefined
  if (generation === undefined || !result.url.startsWith('file:') || result.url.includes('/node_modules/') || result.url.includes('?')) return result
  return { ...result, url: `${result.url}?generation=${generation}` }
}
