import type { Role } from '../lambdas/core/model.ts'

/** The seeded demo accounts. Fixed subjects so tokens minted offline match the seeded rows. */
export interface DemoUser {
  email: string
  subject: string
  displayName: string
  role: Role
  /** Cognito groups the local issuer puts in the token. */
  groups: string[]
  trainerEmail?: string
}

export const DEMO_USERS: readonly DemoUser[] = [
  { email: 'admin@example.com', subject: '0d3a0000-0000-4000-8000-000000000001', displayName: 'Ada Admin', role: 'admin', groups: ['admin'] },
  { email: 'trainer1@example.com', subject: '0d3a0000-0000-4000-8000-000000000011', displayName: 'Tara Trainer', role: 'trainer', groups: ['trainer'] },
  { email: 'trainer2@example.com', subject: '0d3a0000-0000-4000-8000-000000000012', displayName: 'Theo Trainer', role: 'trainer', groups: ['trainer'] },
  { email: 'user1@example.com', subject: '0d3a0000-0000-4000-8000-000000000021', displayName: 'Uma User', role: 'user', groups: [], trainerEmail: 'trainer1@example.com' },
  { email: 'user2@example.com', subject: '0d3a0000-0000-4000-8000-000000000022', displayName: 'Ugo User', role: 'user', groups: [], trainerEmail: 'trainer2@example.com' },
]

export function findDemoUser(email: string): DemoUser | undefined {
  return DEMO_USERS.find((user) => user.email === email.toLowerCase())
}
