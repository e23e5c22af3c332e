// The cold-start yardstick: a bundle that holds only `pg`, built and imported like the handlers.
import pg from 'pg'

export const handler = pg.Pool
