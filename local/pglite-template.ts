import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { createHash, randomUUID } from 'node:crypto'
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { migrateToLatest } from '../lambdas/adapters/migrator.ts'
import { PGliteDialect } from './pglite-dialect.ts'

/**
 * PGlite data directories made once and copied, because creating a PGlite database (its initdb,
 * in WASM) and migrating it is most of what a fresh one costs: about 6 s for `npm run dev` on a
 * quiet machine, against a fraction of a second to copy a directory. Two kinds: `empty` (initdb
 * only, for the migration tests) and `migrated` (every migration applied).
 *
 * A set of templates lives in `<base>-<fingerprint>`, the fingerprint a hash of PGlite's version,
 * of every migration and of the migrator, so a changed or added migration makes new templates
 * and a stale one is never used. Concurrent preparations each build a private copy and rename it
 * into place: the first one wins. `npm run dev` keeps its set under node_modules/.cache, the
 * tests theirs under the OS temp dir (test/helpers/pglite-template.ts).
 */

export type TemplateKind = 'empty' | 'migrated'

const ROOT = join(import.meta.dirname, '..')

/**
 * The directory holding the templates of `kinds` for the current migrations, made if missing.
 * `built` says which kinds this call had to make (a first start after a migration changed).
 */
export async function prepareTemplates(base: string, kinds: readonly TemplateKind[]): Promise<{ home: string; built: TemplateKind[] }> {
  const home = `${base}-${await templateFingerprint()}`
  const built: TemplateKind[] = []
  await mkdir(home, { recursive: true })
  await removeAbandonedBuilds(home)
  for (const kind of kinds) {
    const final = join(home, kind)
    if (await exists(final)) continue
    const building = join(home, `${kind}.${process.pid}.${randomUUID()}.building`)
    try {
      const pglite = new PGlite(building)
      await pglite.waitReady
      if (kind === 'migrated') {
        const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) })
        await migrateToLatest(db)
        await db.destroy()
      }
      await pglite.close()
      await rename(building, final)
      built.push(kind)
    } catch (error) {
      // Another process got there first (its template is as good as ours), or the build failed.
      await rm(building, { recursive: true, force: true })
      if (!(await exists(final))) throw error
    }
  }
  return { home, built }
}

/**
 * Copies a prepared template to `target` (which must not exist), ready to open with `new
 * PGlite(target)`. The copy is made beside it and renamed into place, so a process stopped
 * halfway leaves no half a database behind.
 */
export async function copyTemplateTo(home: string, kind: TemplateKind, target: string): Promise<void> {
  // Unique per call: the tests copy several at once in one process.
  const copying = `${target}.${process.pid}.${randomUUID()}.copying`
  try {
    await copyTree(join(home, kind), copying)
    await rename(copying, target)
  } finally {
    await rm(copying, { recursive: true, force: true })
  }
}

/**
 * Every file copied at once (`copyFile`, in libuv's threads): a third to a half of the CPU of
 * `fs.cp`, which walks a data directory's ~1,100 files one at a time in JavaScript (bench/README.md, item 9).
 */
async function copyTree(source: string, target: string): Promise<void> {
  await mkdir(target)
  const entries = await readdir(source, { withFileTypes: true })
  await Promise.all(
    entries.map((entry) =>
      entry.isDirectory() ? copyTree(join(source, entry.name), join(target, entry.name)) : copyFile(join(source, entry.name), join(target, entry.name)),
    ),
  )
}

/** Builds left by a process that died halfway (a start stopped by Ctrl+C): 40 MB each, never finished. */
async function removeAbandonedBuilds(home: string): Promise<void> {
  for (const name of await readdir(home).catch(() => [] as string[])) {
    const pid = Number(/^\w+\.(\d+)\..*\.building$/.exec(name)?.[1])
    if (pid && !isAlive(pid)) await rm(join(home, name), { recursive: true, force: true }).catch(() => {})
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes the template sets of other fingerprints beside `home` (older migrations); best effort. */
export async function pruneOtherTemplates(home: string): Promise<void> {
  const prefix = basename(home).replace(/-[0-9a-f]{16}$/, '-')
  const entries = await readdir(dirname(home)).catch(() => [] as string[])
  await Promise.all(
    entries
      .filter((name) => name.startsWith(prefix) && /^[0-9a-f]{16}$/.test(name.slice(prefix.length)) && name !== basename(home))
      .map((name) => rm(join(dirname(home), name), { recursive: true, force: true }).catch(() => {})),
  )
}

/** A hash of what a migrated template depends on: PGlite's version, the migrations, the migrator. */
export async function templateFingerprint(root: string = ROOT): Promise<string> {
  const hash = createHash('sha256')
  hash.update(await readFile(join(root, 'node_modules', '@electric-sql', 'pglite', 'package.json')))
  const migrations = join(root, 'migrations')
  for (const name of (await readdir(migrations)).sort()) hash.update(name).update(await readFile(join(migrations, name)))
  hash.update(await readFile(join(root, 'lambdas', 'adapters', 'migrator.ts')))
  return hash.digest('hex').slice(0, 16)
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}
