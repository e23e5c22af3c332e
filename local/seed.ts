import { sql, type Kysely } from 'kysely'
import type { Database } from '../lambdas/adapters/database-schema.ts'
import { DEMO_USERS } from './demo-users.ts'

/**
 * Seeds the demo users, assigns each member their trainer and opens their conversation.
 * Idempotent, and it never undoes what happened since: an existing user keeps the role and
 * trainer an admin gave them, and a member who already has a conversation with that trainer
 * (even a closed one) gets no new one.
 */
export async function seedDemoData(db: Kysely<Database>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (const user of DEMO_USERS) {
      await trx
        .insertInto('users')
        .values({ subject: user.subject, email: user.email, display_name: user.displayName, role: user.role })
        .onConflict((oc) => oc.column('subject').doNothing())
        .execute()
    }
    for (const member of DEMO_USERS.filter((user) => user.trainerEmail)) {
      const trainer = DEMO_USERS.find((user) => user.email === member.trainerEmail)
      if (!trainer) continue
      await sql`
        WITH pair AS (
          SELECT m.id AS member_id, t.id AS trainer_id FROM users m, users t
          WHERE m.subject = ${member.subject} AND t.subject = ${trainer.subject}
        ),
        assigned AS (
          UPDATE users u SET trainer_id = pair.trainer_id FROM pair
          WHERE u.id = pair.member_id AND u.trainer_id IS NULL
          RETURNING u.id
        )
        INSERT INTO conversations (member_id, trainer_id)
        SELECT pair.member_id, pair.trainer_id FROM pair
        WHERE NOT EXISTS (
          SELECT 1 FROM conversations cv WHERE cv.member_id = pair.member_id AND cv.trainer_id = pair.trainer_id
        )`.execute(trx)
    }
  })
}
