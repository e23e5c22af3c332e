import type { Migration, MigrationProvider } from 'kysely'
import * as m0001 from './0001_initial.ts'
import * as m0002 from './0002_admin.ts'
import * as m0003 from './0003_rate_limits.ts'
import * as m0004 from './0004_attachments.ts'
import * as m0005 from './0005_push_devices.ts'
import * as m0006 from './0006_message_state.ts'
import * as m0007 from './0007_message_features.ts'
import * as m0008 from './0008_presence.ts'
import * as m0009 from './0009_search_reports.ts'
import * as m0010 from './0010_erasure.ts'
import * as m0011 from './0011_identity.ts'
import * as m0012 from './0012_unread_counter.ts'
import * as m0013 from './0013_search_without_jit.ts'
import * as m0014 from './0014_hot_statement_functions.ts'
import * as m0015 from './0015_websocket_statement_functions.ts'
import * as m0016 from './0016_send_message_in_steps.ts'

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
  '0007_message_features': m0007,
  '0008_presence': m0008,
  '0009_search_reports': m0009,
  '0010_erasure': m0010,
  '0011_identity': m0011,
  '0012_unread_counter': m0012,
  '0013_search_without_jit': m0013,
  '0014_hot_statement_functions': m0014,
  '0015_websocket_statement_functions': m0015,
  '0016_send_message_in_steps': m0016,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
