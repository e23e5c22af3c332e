import assert from 'node:assert/strict'
import { PGlite } from '@electric-sql/pglite'
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { migrations } from '../../migrations/index.ts'
import { copyTemplateTo, prepareTemplates, pruneOtherTemplates, templateFingerprint } from '../../local/pglite-template.ts'

/**
 * The migrated template `npm run dev` seeds a fresh DATA_DIR from (#16 item 2): made once per
 * set of migrations, a complete migrated database, and never used once a migration changes.
 */

const root = new URL('../..', import.meta.url).pathname
const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trainer-chat-template-test-'))
  dirs.push(dir)
  return dir
}

test('the template is made once, and a copy of it is a database with every migration applied', async () => {
  const base = join(await tempDir(), 'pglite-template')
  const first = await prepareTemplates(base, ['migrated'])
  assert.deepEqual(first.built, ['migrated'])
  // A build a stopped process left behind is cleared by the next preparation.
  const abandoned = join(first.home, 'migrated.2147483646.0000.building')
  await mkdir(abandoned)
  const again = await prepareTemplates(base, ['migrated'])
  assert.deepEqual(again, { home: first.home, built: [] })
  assert.deepEqual(await readdir(first.home), ['migrated'])

  const target = join(await tempDir(), 'pgdata')
  await copyTemplateTo(first.home, 'migrated', target)
  const pglite = new PGlite(target)
  const { rows } = await pglite.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name')
  assert.deepEqual(rows.map((row) => row.name), Object.keys(migrations).sort())
  await pglite.close()
})

test('the template is keyed by the migrations: a changed or added migration gets a new one, and the old ones are pruned', async () => {
  // A copy of what the fingerprint reads, to change a migration without touching the real ones.
  const copy = await tempDir()
  await cp(join(root, 'migrations'), join(copy, 'migrations'), { recursive: true })
  await mkdir(join(copy, 'lambdas', 'adapters'), { recursive: true })
  await cp(join(root, 'lambdas', 'adapters', 'migrator.ts'), join(copy, 'lambdas', 'adapters', 'migrator.ts'))
  await mkdir(join(copy, 'node_modules', '@electric-sql', 'pglite'), { recursive: true })
  await cp(join(root, 'node_modules', '@electric-sql', 'pglite', 'package.json'), join(copy, 'node_modules', '@electric-sql', 'pglite', 'package.json'))

  const original = await templateFingerprint(copy)
  assert.equal(original, await templateFingerprint(root))
  const [firstMigration] = (await readdir(join(copy, 'migrations'))).filter((name) => /^\d{4}_/.test(name)).sort()
  await writeFile(join(copy, 'migrations', firstMigration as string), '// edited\n', { flag: 'a' })
  const edited = await templateFingerprint(copy)
  assert.notEqual(edited, original)
  await writeFile(join(copy, 'migrations', '9999_new.ts'), 'export {}\n')
  assert.notEqual(await templateFingerprint(copy), edited)

  const parent = await tempDir()
  for (const name of [`pglite-template-${original}`, `pglite-template-${edited}`, 'unrelated']) await mkdir(join(parent, name))
  await pruneOtherTemplates(join(parent, `pglite-template-${edited}`))
  assert.deepEqual((await readdir(parent)).sort(), [`pglite-template-${edited}`, 'unrelated'])
})
