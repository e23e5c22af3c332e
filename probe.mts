import { register } from 'node:module'
register('./local/reload-hooks.mjs', import.meta.url)
const base = new URL('./lambdas/runtime.ts', import.meta.url).href
const a = await import(base)
let t = performance.now()
const b = await import(base + '?generation=1')
console.log('gen1', performance.now() - t, a.db === b.db)
t = performance.now()
const c = await import(base + '?generation=2')
console.log('gen2', performance.now() - t, b.db === c.db)
const cfgA = await import(new URL('./lambdas/config.ts', import.meta.url).href)
const cfgB = await import(new URL('./lambdas/config.ts', import.meta.url).href + '?generation=1')
console.log(cfgA.config === cfgB.config)
