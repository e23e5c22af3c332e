/**
 * Every Lambda function with its deployment facts: what it may reach (its capabilities), its
 * memory and timeout, whether it runs in the VPC or on a schedule. The functions, their
 * environment, their permissions and the alarms are generated from it. The routes that invoke
 * them are declared with the handlers (lambdas/http/routes.ts, lambdas/websocket/routes.ts);
 * lib/routes.ts adds their deployment facts.
 *
 * This module imports nothing: scripts/build.mjs reads it to know which handlers to bundle.
 */

/** What a function is allowed to reach. Each capability sets its env vars and IAM grants in one place (lib/capabilities.ts). */
export type Capability =
  /** RDS Proxy with IAM auth: DB_* env + rds-db:connect. */
  | 'database'
  /** Post to / inspect / drop WebSocket connections: CONNECTIONS_ENDPOINT + execute-api:ManageConnections. */
  | 'connections'
  /** Attachment objects under conversations/: ATTACHMENTS_BUCKET + s3 object grants. */
  | 'attachments'
  /** SNS mobile push: PUSH_* env + endpoint management and publish. */
  | 'push'
  /** Verify Cognito tokens: JWT_* env (the token is verified in code, not by API Gateway). */
  | 'jwt'
  /** The stage's message rules: MESSAGE_EDIT_WINDOW_SECONDS, REACTION_EMOJI (settings only, no grant). */
  | 'messageRules'

export interface FunctionSpec {
  /** File name under lambdas/handlers/ without `.ts`; also the function's construct id. */
  readonly handler: string
  readonly description: string
  readonly capabilities: readonly Capability[]
  readonly memoryMiB?: number
  readonly timeoutSeconds?: number
  /**
   * Run outside the VPC. Only for functions that touch no VPC resource; see the authorizer below.
   * @default false
   */
  readonly outsideVpc?: boolean
  /** Invoke on a fixed schedule (EventBridge), every this many minutes. */
  readonly everyMinutes?: number
}

const fn = <H extends string>(handler: H, description: string, ...capabilities: Capability[]) => ({ handler, description, capabilities })

export const FUNCTIONS = [
  {
    handler: 'ws-authorizer',
    description: 'WebSocket $connect authorizer: verifies the Cognito token from the header or ?token=',
    capabilities: ['jwt'],
    memoryMiB: 256,
    // It reads only the token and Cognito's public JWKS: keeping it out of the VPC gives it no network
    // path to the database and keeps sign-in working even if the NAT gateway is down.
    outsideVpc: true,
  },
  // connections: presence to the other participants, GetConnection on stale slots (#11 item 2, #13).
  fn('ws-connect', 'WebSocket $connect: registers the connection', 'database', 'connections'),
  fn('ws-disconnect', 'WebSocket $disconnect: forgets the connection', 'database', 'connections'),
  fn('ws-default', 'WebSocket $default: answers unknown actions', 'connections'),
  fn('ws-send-message', 'WebSocket sendMessage', 'database', 'connections', 'attachments', 'push'),
  fn('ws-typing', 'WebSocket typing', 'database', 'connections'),
  fn('ws-mark-as-read', 'WebSocket markAsRead', 'database', 'connections'),
  fn('ws-join-conversation', 'WebSocket joinConversation', 'database', 'connections', 'attachments'),
  fn('ws-leave-conversation', 'WebSocket leaveConversation', 'database', 'connections'),
  fn('ws-edit-message', 'WebSocket editMessage', 'database', 'connections', 'attachments', 'messageRules'),
  fn('ws-delete-message', 'WebSocket deleteMessage', 'database', 'connections'),
  fn('ws-react', 'WebSocket react', 'database', 'connections', 'messageRules'),
  // connections: PUT /me/presence tells the other participants (#13).
  fn('http-app', 'HTTP API: app routes', 'database', 'attachments', 'push', 'connections'),
  // Erasure (POST /admin/users/{id}/erase) deletes the user's objects and push endpoints.
  fn('http-admin', 'HTTP API: admin routes (role checked against the database)', 'database', 'connections', 'attachments', 'push'),
  {
    handler: 'attachments-sweep',
    description: 'Scheduled: deletes unused uploads once they can no longer be sent, and retries the deletions erasures still owe',
    capabilities: ['database', 'attachments', 'push'],
    timeoutSeconds: 120,
    everyMinutes: 60,
  },
  {
    handler: 'migrate',
    description: 'Applies Kysely migrations; invoked by the deployment before the APIs take traffic',
    capabilities: ['database'],
    memoryMiB: 512,
    timeoutSeconds: 300,
  },
] as const satisfies readonly FunctionSpec[]

export type HandlerName = (typeof FUNCTIONS)[number]['handler']

/** The authorizer is not a route; it guards `$connect`. */
export const WEBSOCKET_AUTHORIZER: HandlerName = 'ws-authorizer'
export const MIGRATION_HANDLER: HandlerName = 'migrate'
