import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// Migrations take Kysely<any> on purpose: they must not depend on today's application types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One statement per call: PGlite's extended protocol takes a single statement at a time.
  const statements = `
    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      subject text NOT NULL UNIQUE,
      email text NOT NULL,
      display_name text NOT NULL,
      role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'trainer', 'admin')),
      trainer_id uuid REFERENCES users (id),
      disabled_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (trainer_id IS NULL OR trainer_id <> id)
    );
    CREATE INDEX users_trainer_idx ON users (trainer_id) WHERE trainer_id IS NOT NULL;
    CREATE INDEX users_role_idx ON users (role, id);

    CREATE TABLE conversations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      member_id uuid NOT NULL REFERENCES users (id),
      trainer_id uuid NOT NULL REFERENCES users (id),
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
      closed_reason text,
      closed_at timestamptz,
      -- The last assigned seq. Incremented in the same statement that inserts a message, so seq is
      -- gap-free per conversation: the row lock serializes concurrent sends, a failure rolls both back.
      last_seq integer NOT NULL DEFAULT 0,
      last_message_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      -- Last activity (message, status change): the order of every conversation list.
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (member_id <> trainer_id),
      CHECK ((status = 'closed') = (closed_at IS NOT NULL))
    );
    CREATE UNIQUE INDEX conversations_one_open_per_pair ON conversations (member_id, trainer_id) WHERE status = 'open';
    CREATE INDEX conversations_member_idx ON conversations (member_id, updated_at DESC);
    CREATE INDEX conversations_trainer_idx ON conversations (trainer_id, updated_at DESC);
    CREATE INDEX conversations_activity_idx ON conversations (updated_at DESC, id DESC);

    CREATE TABLE messages (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      conversation_id uuid NOT NULL REFERENCES conversations (id),
      seq integer NOT NULL CHECK (seq > 0),
      sender_id uuid NOT NULL REFERENCES users (id),
      body text NOT NULL,
      attachment_id uuid,
      client_message_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      -- When the other participant read it (1:1 chat: there is exactly one reader).
      read_at timestamptz,
      hidden_at timestamptz,
      hidden_by uuid REFERENCES users (id),
      hidden_reason text,
      CONSTRAINT messages_seq_unique UNIQUE (conversation_id, seq),
      CONSTRAINT messages_client_id_unique UNIQUE (sender_id, client_message_id)
    );
    CREATE INDEX messages_unread_idx ON messages (conversation_id, sender_id) WHERE read_at IS NULL;

    CREATE TABLE connections (
      connection_id text PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      connected_at timestamptz NOT NULL DEFAULT now(),
      -- The token's expiry: actions after it are refused and the connection is closed.
      expires_at timestamptz NOT NULL,
      joined_conversation_ids uuid[] NOT NULL DEFAULT '{}'
    );
    CREATE INDEX connections_user_idx ON connections (user_id);
  `
  for (const statement of statements.split(/;\s*$/m).map((text) => text.trim()).filter(Boolean)) {
    await sql.raw(statement).execute(db)
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE connections, messages, conversations, users`.execute(db)
}
