import { sql, type Kysely } from 'kysely'

// Frozen once shipped: never edit, add a new migration instead.
// JIT compilation off for this database's new sessions. The search statements (0009) carry a
// planner estimate for an unknown word that is far above what they cost, so PostgreSQL JIT-compiles
// them: 60–160 ms of compilation around 2–3 ms of work at 10^6 messages (bench/README.md, figure
// "search"). The chat's statements are all short OLTP statements that JIT never pays off for.
// Set on the database, not per connection (`options=-c jit=off`), so RDS Proxy keeps multiplexing
// and every client (Lambda, the migrator, psql) gets the same plans. A no-op on PGlite (no LLVM).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$`.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET jit', current_database()); END $$`.execute(db)
}
