import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { createHash, randomUUID } from 'node:crypto'
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateToLatest } from '../../lambdas/adapters/migrator.ts'
import { PGliteDialect } from '../../local/pglite-dialect.ts'

/**
 * PGlite data directories made once and copied for each test file (and the bench), because
 * creating a PGlite database (its initdb, in WASM) is most of what a fresh one costs: about 2 s
 * on a quiet machine and 40 s or more on a loaded one, against a fraction of that to copy a
 * directory and open it. Two templates: `empty` (initdb only, for the migration tests) and
 * `migrated` (every migration applied).
 *
 * They live under the OS temp dir, named by a hash of PGlite's version and of the migrations, so
 * a changed migration makes new templates and a stale one is never used. `npm test` prepares them
 * before it starts the test files; a file run on its own prepares them itself. Concurrent
 * preparations each build a private copy and rename it into place: the first one wins.
 */

export type TemplateKind = 'empty' | 'migrated'

/** TEST_PGLITE_TEMPLATES=off makes every database from scratch (initdb and migrations), for comparison. */
export const templatesEnabled = process.env.TEST_PGLITE_TEMPLATES !== 'off'

const ROOT = join(import.meta.dirname, '..', '..')

let prepared: Promise<string> | undefined

/** The directory holding both templates, made on first use. */
export function pgliteTemplates(): Promise<string> {
  return (prepared ??= prepare())
}

/** A copy of a template at `target` (which must not exist), ready to open with `new PGlite(target)`. */
export async function copyTemplate(kind: TemplateKind, target: string): Promise<void> {
  await cp(join(await pgliteTemplates(), kind), target, { recursive: true })
}

/**
 * A fresh database on a private copy of a template; `close()` also removes the copy. With
 * templates off, an in-memory PGlite migrated here.
 */
export async function openTemplateCopy(kind: TemplateKind): Promise<{ pglite: PGlite; close(): Promise<void> }> {
  if (!templatesEnabled) {
    const pglite = new PGlite()
    await pglite.waitReady
    if (kind === 'migrated') await migrateToLatest(new Kysely<unknown>({ dialect: new PGliteDialect(pglite) }))
    return { pglite, close: () => pglite.close() }
  }
  const dir = join(tmpdir(), `trainer-chat-pglite-${randomUUID()}`)
  await copyTemplate(kind, dir)
  const pglite = new PGlite(dir)
  await pglite.waitReady
  return {
    pglite,
    async close() {
      await pglite.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function prepare(): Promise<string> {
  const home = join(tmpdir(), `trainer-chat-pglite-templates-${await fingerprint()}`)
  if (await exists(join(home, 'migrated'))) return home
  await mkdir(home, { recursive: true })
  for (const kind of ['empty', 'migrated'] as const) {
    const final = join(home, kind)
    if (await exists(final)) continue
    const building = join(home, `${kind}.${process.pid}.${randomUUID()}.building`)
    const pglite = new PGlite(building)
    await pglite.waitReady
    if (kind === 'migrated') {
      const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) })
      await migrateToLatest(db)
      await db.destroy()
    }
    await pglite.close()
    try {
      await rename(building, final)
    } catch (error) {
      // Another process got there first; its template is as good as ours.
      await rm(building, { recursive: true, force: true })
      if (!(await exists(final))) throw error
    }
  }
  return home
}

async function fingerprint(): Promise<string> {
  const hash = createHash('sha256')
  hash.update(await readFile(join(ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json')))
  const migrations = join(ROOT, 'migrations')
  for (const name of (await readdir(migrations)).sort()) hash.update(name).update(await readFile(join(migrations, name)))
  hash.update(await readFile(join(ROOT, 'lambdas', 'adapters', 'migrator.ts')))
  return hash.digest('hex').slice(0, 16)
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}
