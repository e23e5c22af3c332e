import type { Delivery, Departures, ForgetOptions, Log } from '../ports.ts'
import type { ServerFrame } from '../protocol.ts'
import type { AdminTransactions } from './actor.ts'
import type { AuditQueries } from './audit.ts'
import type { ConversationQueries } from './conversations.ts'
import type { UserQueries } from './users.ts'

/** Everything an admin request's transaction can do, once its caller was found to be an admin. */
export interface AdminTransaction extends ConversationQueries, UserQueries, AuditQueries {}

export interface AdminStore extends AdminTransactions<AdminTransaction> {
  /** Removes connection rows API Gateway reported gone; what that means for the other participants. */
  forgetConnections(connectionIds: readonly string[], options?: ForgetOptions): Promise<Departures>
}

export interface AdminPorts {
  store: AdminStore
  delivery: Delivery<ServerFrame>
  log: Log
}

/** The parts of the admin ports that tell live connections about a committed change. */
export type Announcer = Pick<AdminPorts, 'delivery' | 'log'> & { store: Pick<AdminStore, 'forgetConnections'> }
