import { sql, type Kysely, type Selectable } from 'kysely'
import * as z from 'zod/mini'
import type { Device } from '../core/model.ts'
import type { DeviceStore, Verdict } from '../core/ports.ts'
import type { Database, DevicesTable } from './database-schema.ts'
import { participantAccess, single, toIso } from './sql-fragments.ts'
import { callerFromIdentity, withCaller } from './users-upsert.ts'

type DeviceRow = Pick<Selectable<DevicesTable>, 'token' | 'platform' | 'enabled' | 'created_at' | 'updated_at'>

/** The conversation ids json_agg collects; NULL when there are none. */
const ConversationIdsJson = z.nullable(z.array(z.string()))

/** Devices and notification mutes on Postgres; each method is one statement that resolves the caller first. */
export function createDeviceStore(db: Kysely<Database>): DeviceStore {
  return {
    /** A token is one device: registering it again updates it, registering it as someone else moves it. */
    async register(identity, device) {
      const { rows } = await sql<DeviceRow & { user_id: string; previous_user_id: string | null; previous_endpoint_arn: string | null }>`
        WITH ${callerFromIdentity(identity)},
        -- The row as it was (the statement's snapshot), to name a previous owner.
        previous AS (SELECT d.user_id, d.endpoint_arn FROM devices d WHERE d.token = ${device.token}),
        stored AS (
          INSERT INTO devices (token, user_id, platform, endpoint_arn, enabled)
          SELECT ${device.token}, c.user_id, ${device.platform}, ${device.endpointArn}, true
          FROM caller c WHERE c.disabled_at IS NULL
          ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, platform = excluded.platform,
            endpoint_arn = excluded.endpoint_arn, enabled = true, updated_at = now()
          RETURNING token, user_id, platform, enabled, created_at, updated_at
        )
        SELECT s.*, p.user_id AS previous_user_id, p.endpoint_arn AS previous_endpoint_arn
        FROM stored s LEFT JOIN previous p ON p.user_id <> s.user_id`.execute(db)
      const row = rows[0]
      if (!row) return null
      const moved = row.previous_user_id && row.previous_endpoint_arn ? { fromUserId: row.previous_user_id, endpointArn: row.previous_endpoint_arn } : null
      return { device: toDevice(row), userId: row.user_id, moved }
    },

    async list(identity) {
      const rows = await withCaller(db, identity)
        .selectFrom('devices as d')
        .innerJoin('caller as c', 'c.user_id', 'd.user_id')
        .select(['d.token', 'd.platform', 'd.enabled', 'd.created_at', 'd.updated_at'])
        .orderBy('d.created_at')
        .orderBy('d.token')
        .execute()
      return rows.map(toDevice)
    },

    async remove(identity, token) {
      const removed = await withCaller(db, identity)
        .deleteFrom('devices as d')
        .using('caller as c')
        .where('d.token', '=', token)
        .whereRef('d.user_id', '=', 'c.user_id')
        .returning('d.endpoint_arn')
        .executeTakeFirst()
      return removed?.endpoint_arn ?? null
    },

    async disable(endpointArns) {
      if (endpointArns.length === 0) return
      await db
        .updateTable('devices')
        .set({ enabled: false, updated_at: new Date() })
        .where('endpoint_arn', 'in', [...endpointArns])
        .where('enabled', '=', true)
        .execute()
    },

    async notificationSettings(identity) {
      const { rows } = await sql<{ muted: boolean; muted_conversation_ids: unknown }>`
        WITH ${callerFromIdentity(identity)}
        SELECT
          EXISTS (SELECT 1 FROM notification_mutes nm WHERE nm.user_id = c.user_id AND nm.conversation_id IS NULL) AS muted,
          (SELECT json_agg(nm.conversation_id ORDER BY nm.created_at) FROM notification_mutes nm
            WHERE nm.user_id = c.user_id AND nm.conversation_id IS NOT NULL) AS muted_conversation_ids
        FROM caller c`.execute(db)
      const row = rows[0]
      return { muted: row?.muted ?? false, mutedConversationIds: ConversationIdsJson.parse(row?.muted_conversation_ids ?? null) ?? [] }
    },

    async setMuted(identity, muted) {
      await sql`
        WITH ${callerFromIdentity(identity)},
        added AS (
          INSERT INTO notification_mutes (user_id, conversation_id)
          SELECT c.user_id, NULL FROM caller c WHERE ${muted}::boolean
          ON CONFLICT ON CONSTRAINT notification_mutes_unique DO NOTHING
          RETURNING 1
        ),
        removed AS (
          DELETE FROM notification_mutes nm USING caller c
          WHERE NOT ${muted}::boolean AND nm.user_id = c.user_id AND nm.conversation_id IS NULL
          RETURNING 1
        )
        SELECT (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM removed) AS removed`.execute(db)
    },

    /** One statement: only a participant (of an open or closed conversation) may mute it. */
    async setConversationMuted(identity, conversationId, muted) {
      const { rows } = await sql<{ verdict: Verdict }>`
        WITH ${callerFromIdentity(identity)}, ${participantAccess(conversationId)},
        added AS (
          INSERT INTO notification_mutes (user_id, conversation_id)
          SELECT a.user_id, a.conversation_id FROM access a WHERE ${muted}::boolean AND a.verdict IN ('ok', 'closed')
          ON CONFLICT ON CONSTRAINT notification_mutes_unique DO NOTHING
          RETURNING 1
        ),
        removed AS (
          DELETE FROM notification_mutes nm USING access a
          WHERE NOT ${muted}::boolean AND a.verdict IN ('ok', 'closed')
            AND nm.user_id = a.user_id AND nm.conversation_id = a.conversation_id
          RETURNING 1
        )
        SELECT a.verdict, (SELECT count(*) FROM added) AS added, (SELECT count(*) FROM removed) AS removed
        FROM access a`.execute(db)
      return single(rows).verdict
    },
  }
}

function toDevice(row: DeviceRow): Device {
  return {
    tokenHint: tokenHint(row.token),
    platform: row.platform,
    enabled: row.enabled,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  }
}

/** The token's last four characters: enough for a person to tell their phones apart, useless to anyone else. */
export function tokenHint(token: string): string {
  const chars = Array.from(token)
  return chars.length <= 8 ? '…' : `…${chars.slice(-4).join('')}`
}
