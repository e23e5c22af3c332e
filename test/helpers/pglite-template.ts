import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { randomUUID } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateToLatest } from '../../lambdas/adapters/migrator.ts'
import { PGliteDialect } from '../../local/pglite-dialect.ts'
import { copyTemplateTo, exists, prepareTemplates, templateFingerprint, type TemplateKind } from '../../local/pglite-template.ts'

/**
 * PGlite data directories made once and copied for each test file (and the bench), because
 * creating a PGlite database (its initdb, in WASM) is most of what a fresh one costs: about 2 s
 * on a quiet machine and 40 s or more on a loaded one, against a fraction of that to copy a
 * directory and open it. Two templates: `empty` (initdb only, for the migration tests) and
 * `migrated` (every migration applied), made by local/pglite-template.ts (which `npm run dev`
 * uses too), keyed by a hash of PGlite's version and of the migrations.
 *
 * The tests' set lives under the OS temp dir. `npm test` prepares it before it starts the test
 * files; a file run on its own prepares it itself.
 */

export type { TemplateKind }

/** TEST_PGLITE_TEMPLATES=off makes every database from scratch (initdb and migrations), for comparison. */
export const templatesEnabled = process.env.TEST_PGLITE_TEMPLATES !== 'off'

let prepared: Promise<string> | undefined

/** The directory holding both templates, made on first use. */
export function pgliteTemplates(): Promise<string> {
  return (prepared ??= prepareTemplates(join(tmpdir(), 'trainer-chat-pglite-templates'), ['empty', 'migrated']).then(({ home }) => home))
}

/**
 * The migrated template `npm run dev` copies for a fresh DATA_DIR (local/dev.ts keeps its set
 * under node_modules/.cache/trainer-chat), made from the tests' one if missing. The tests that
 * start `npm run dev` (test/e2e/dev-*.test.ts) would otherwise each make it first, several at
 * once (a PGlite initdb and every migration, per process), every time the migrations change.
 */
export async function prepareDevTemplate(): Promise<void> {
  // The base path local/dev.ts passes as pgliteTemplateBase; the fingerprint names the set.
  const home = `${join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'trainer-chat', 'pglite-template')}-${await templateFingerprint()}`
  if (await exists(join(home, 'migrated'))) return
  const tests = await pgliteTemplates()
  await mkdir(home, { recursive: true })
  try {
    await copyTemplateTo(tests, 'migrated', join(home, 'migrated'))
  } catch (error) {
    // Another process got there first: its copy is as good as ours.
    if (!(await exists(join(home, 'migrated')))) throw error
  }
}

/** A copy of a template at `target` (which must not exist), ready to open with `new PGlite(target)`. */
export async function copyTemplate(kind: TemplateKind, target: string): Promise<void> {
  await copyTemplateTo(await pgliteTemplates(), kind, target)
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
