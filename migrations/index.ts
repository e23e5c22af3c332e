import type { Migration, MigrationProvider } from 'kysely'
import * as m0001 from './0001_initial.ts'
import * as m0002 from './0002_admin.ts'
import * as m0003 from './0003_rate_limits.ts'
import * as m0004 from './0004_attachments.ts'
import * as m0005 from './0005_push_devices.ts'
import * as m0006 from './0006_message_state.ts'
import * as m0013 from './0013_unread_counter.ts'

/**
 * The static list of migrations. Bundled Lambdas cannot read a folder at run time, so every
 * migration is imported here; the names order them.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_admin': m0002,
  '0003_rate_limits': m0003,
  '0004_attachments': m0004,
  '0005_push_devices': m0005,
  '0006_message_state': m0006,
  '0013_unread_counter': m0013,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
