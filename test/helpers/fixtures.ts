import type { Kysely } from 'kysely'
import { randomBytes } from 'node:crypto'
import type { Database } from '../../lambdas/adapters/database-schema.ts'

/**
 * Members, their trainers and open conversations written straight into the database, many at a
 * time. Subjects are `sub-<email>`, which is what `stack.token(email)` puts in a token for an
 * email that is not a demo user, so the tokens match these rows.
 */
export interface Participant {
  id: string
  email: string
  subject: string
}

export interface Pair {
  conversationId: string
  member: Participant
  trainer: Participant
}

export async function createPairs(db: Kysely<Database>, count: number, label = 'pair'): Promise<Pair[]> {
  if (count === 0) return []
  const run = randomBytes(4).toString('hex')
  const emails = Array.from({ length: count }, (_, i) => ({
    trainer: `${label}-${run}-${i}-trainer@example.com`,
    member: `${label}-${run}-${i}-member@example.com`,
  }))
  const trainers = await db
    .insertInto('users')
    .values(emails.map((e) => ({ subject: `sub-${e.trainer}`, email: e.trainer, display_name: e.trainer, role: 'trainer' as const })))
    .returning(['id', 'email', 'subject'])
    .execute()
  const trainerByEmail = new Map(trainers.map((t) => [t.email, t]))
  const members = await db
    .insertInto('users')
    .values(
      emails.map((e) => ({
        subject: `sub-${e.member}`,
        email: e.member,
        display_name: e.member,
        role: 'user' as const,
        trainer_id: (trainerByEmail.get(e.trainer) as Participant).id,
      })),
    )
    .returning(['id', 'email', 'subject', 'trainer_id'])
    .execute()
  const conversations = await db
    .insertInto('conversations')
    .values(members.map((m) => ({ member_id: m.id, trainer_id: m.trainer_id as string })))
    .returning(['id', 'member_id'])
    .execute()
  const conversationByMember = new Map(conversations.map((c) => [c.member_id, c.id]))
  const trainerById = new Map(trainers.map((t) => [t.id, t]))
  return members.map((m) => ({
    conversationId: conversationByMember.get(m.id) as string,
    member: { id: m.id, email: m.email, subject: m.subject },
    trainer: trainerById.get(m.trainer_id as string) as Participant,
  }))
}

export async function createPair(db: Kysely<Database>, label?: string): Promise<Pair> {
  return (await createPairs(db, 1, label))[0] as Pair
}
