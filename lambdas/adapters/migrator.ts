import { Migrator, type Kysely, type MigrationResultSet } from 'kysely'
import { migrationProvider } from '../../migrations/index.ts'

// Migrations are schema-agnostic: any Kysely instance will do.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDatabase = Kysely<any>

/** Applies every pending migration; throws (naming the failed one) if any fails. */
export async function migrateToLatest(db: AnyDatabase): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  return applied(await migrator.migrateToLatest())
}

/** Migrates up to and including `name` (used to test upgrades from the previous version). */
export async function migrateTo(db: AnyDatabase, name: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider })
  return applied(await migrator.migrateTo(name))
}

function applied({ error, results }: MigrationResultSet): string[] {
  const failed = results?.find((result) => result.status === 'Error')
  if (error) {
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed`, { cause: error })
  }
  return (results ?? []).filter((result) => result.status === 'Success').map((result) => result.migrationName)
}
