import { PGlite } from '@electric-sql/pglite'
import { Kysely } from 'kysely'
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
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
 * files; a file run on its own prepares it itself. Beside each template, its tarball: a test
 * database (`openTemplateInMemory`) is an in-memory PGlite loaded from it, which costs less than
 * half of copying the directory and opening it (no 40 MB copy, no file system under the WASM).
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
  await mkdir(home, { recursive: true })
  try {
    await copyTemplate('migrated', join(home, 'migrated'))
  } catch (error) {
    // Another process got there first: its copy is as good as ours.
    if (!(await exists(join(home, 'migrated')))) throw error
  }
}

/** A copy of a template at `target` (which must not exist), ready to open with `new PGlite(target)`. */
export async function copyTemplate(kind: TemplateKind, target: string): Promise<void> {
  await copyTemplateTo(await pgliteTemplates(), kind, target)
}

const tarballs = new Map<TemplateKind, Promise<Blob>>()

/**
 * The template as a tarball (`<kind>.tar` beside it), for `new PGlite({ loadDataDir })`: made
 * once from a copy of the template (PGlite's own `dumpDataDir`), written beside it and renamed
 * into place, so concurrent makers do not clash; read once per process.
 */
export function templateTarball(kind: TemplateKind): Promise<Blob> {
  let tarball = tarballs.get(kind)
  if (!tarball) {
    tarball = (async () => {
      const path = join(await pgliteTemplates(), `${kind}.tar`)
      if (!(await exists(path))) {
        const dir = join(tmpdir(), `trainer-chat-pglite-${randomUUID()}`)
        const writing = `${path}.${process.pid}.${randomUUID()}.writing`
        try {
          await copyTemplate(kind, dir)
          const pglite = new PGlite(dir)
          await pglite.waitReady
          const dump = await pglite.dumpDataDir('none')
          await pglite.close()
          await writeFile(writing, Buffer.from(await dump.arrayBuffer()))
          await rename(writing, path)
        } finally {
          await rm(dir, { recursive: true, force: true })
          await rm(writing, { force: true })
        }
      }
      // No type: PGlite reads it as an uncompressed tar.
      return new Blob([await readFile(path)])
    })()
    tarballs.set(kind, tarball)
  }
  return tarball
}

/** Both tarballs made (`npm test` calls it once before the files start). */
export async function prepareTemplateTarballs(): Promise<void> {
  await templateTarball('empty')
  await templateTarball('migrated')
}

/** With templates off: an in-memory PGlite made from scratch (initdb), migrated here for `migrated`. */
async function openFromScratch(kind: TemplateKind): Promise<{ pglite: PGlite; close(): Promise<void> }> {
  const pglite = new PGlite()
  await pglite.waitReady
  if (kind === 'migrated') await migrateToLatest(new Kysely<unknown>({ dialect: new PGliteDialect(pglite) }))
  return { pglite, close: () => pglite.close() }
}

/**
 * A fresh in-memory database loaded from a template's tarball: the test databases
 * (test/helpers/database.ts). With templates off, one made from scratch.
 */
export async function openTemplateInMemory(kind: TemplateKind): Promise<{ pglite: PGlite; close(): Promise<void> }> {
  if (!templatesEnabled) return openFromScratch(kind)
  const pglite = new PGlite({ loadDataDir: await templateTarball(kind) })
  await pglite.waitReady
  return { pglite, close: () => pglite.close() }
}

/**
 * A fresh database on a private copy of a template, on disk; `close()` also removes the copy.
 * With templates off, an in-memory PGlite made from scratch.
 */
export async function openTemplateCopy(kind: TemplateKind): Promise<{ pglite: PGlite; close(): Promise<void> }> {
  if (!templatesEnabled) return openFromScratch(kind)
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
