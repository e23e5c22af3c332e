import type { Migration, MigrationProvider } from 'kysely'
import * as m0001 from './0001_initial.ts'

/**
 * The static list of migrations. Bundled Lambdas cannot read a folder at run time, so every
 * migration is imported here; the names order them.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
