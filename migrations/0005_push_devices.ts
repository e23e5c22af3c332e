import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = `
    CREATE TABLE devices (
      -- One row per device token: registering a token another user had moves it to the caller.
      token text PRIMARY KEY CHECK (length(token) BETWEEN 1 AND 4096),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      platform text NOT NULL CHECK (platform IN ('ios', 'android')),
      endpoint_arn text NOT NULL,
      -- False once SNS reported the endpoint disabled or gone; registering again re-enables it.
      enabled boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX devices_user_idx ON devices (user_id);
    CREATE INDEX devices_endpoint_idx ON devices (endpoint_arn);

    CREATE TABLE notification_mutes (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      -- NULL mutes every conversation of the user.
      conversation_id uuid REFERENCES conversations (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT notification_mutes_unique UNIQUE NULLS NOT DISTINCT (user_id, conversation_id)
    );
  `
  for (const statement of statements.split(/;\s*$/m).map((text) => text.trim()).filter(Boolean)) {
    await sql.raw(statement).execute(db)
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE notification_mutes`.execute(db)
  await sql`DROP TABLE devices`.execute(db)
}
