import { Policy, type PolicyStatement } from 'aws-cdk-lib/aws-iam'
import type { Construct } from 'constructs'
import type { AttachmentsBucket } from './constructs/attachments-bucket.ts'
import type { Auth } from './constructs/auth.ts'
import type { ChatFunction, LambdaEnvironment } from './constructs/chat-function.ts'
import type { Database } from './constructs/database.ts'
import type { Push } from './constructs/push.ts'
import type { ChatWebSocketApi } from './constructs/websocket-api.ts'
import type { Capability } from './functions.ts'
import { acknowledgeWildcards } from './nag.ts'

export interface CapabilityResources {
  readonly database: Database
  readonly auth: Auth
  readonly attachments: AttachmentsBucket
  readonly push: Push
  readonly webSocket: ChatWebSocketApi
  readonly corsOrigins: readonly string[]
  /** The stage's message rules; an unset one keeps the handlers' default. */
  readonly messageRules: { readonly editWindowSeconds?: number | undefined; readonly reactionEmoji?: readonly string[] | undefined }
}

interface Binding {
  readonly environment: Partial<LambdaEnvironment>
  readonly grant: (fn: ChatFunction) => void
}

/**
 * What each capability (lib/functions.ts) gives a function: its environment variables and its
 * grants, set together by one `bind` call, so a function can reach exactly what it lists.
 */
export class Capabilities {
  private readonly bindings: Record<Capability, Binding>

  constructor(scope: Construct, resources: CapabilityResources) {
    const { database, auth, attachments, push, webSocket, corsOrigins, messageRules } = resources
    const manageConnections = sharedPolicy(
      scope,
      'ManageConnections',
      [webSocket.manageConnectionsStatement()],
      'execute-api:ManageConnections on this API and stage only; the trailing * is the connection id, which exists only at run time.',
    )
    const pushEndpoints = sharedPolicy(
      scope,
      'PushEndpoints',
      push.deviceStatements(),
      "SNS creates one endpoint per device at run time; the pattern admits only endpoints under this stage's own platform applications.",
    )
    this.bindings = {
      database: {
        environment: {
          DB_HOST: database.proxy.endpoint,
          DB_PORT: String(database.port),
          DB_NAME: database.databaseName,
          DB_USER: database.username,
          DB_IAM_AUTH: 'true',
          DB_SSL: 'true',
        },
        grant: (fn) => database.grantConnect(fn),
      },
      jwt: {
        environment: {
          JWT_ISSUER: auth.issuer,
          JWT_AUDIENCE: auth.mobileClient.userPoolClientId,
          JWT_TOKEN_USE: 'id',
          ...(corsOrigins.length > 0 ? { ALLOWED_ORIGINS: corsOrigins.join(',') } : {}),
        },
        grant: () => {},
      },
      connections: {
        environment: { CONNECTIONS_ENDPOINT: webSocket.connectionsEndpoint },
        grant: (fn) => manageConnections.attach(fn),
      },
      attachments: {
        environment: { ATTACHMENTS_BUCKET: attachments.bucket.bucketName },
        grant: (fn) => fn.role?.addManagedPolicy(attachments.objectAccessPolicy),
      },
      push: {
        environment: {
          ...(push.apns ? { PUSH_APNS_PLATFORM_APPLICATION_ARN: push.apns.arn } : {}),
          ...(push.fcm ? { PUSH_GCM_PLATFORM_APPLICATION_ARN: push.fcm.arn } : {}),
        },
        grant: (fn) => pushEndpoints.attach(fn),
      },
      messageRules: {
        environment: {
          ...(messageRules.editWindowSeconds === undefined ? {} : { MESSAGE_EDIT_WINDOW_SECONDS: String(messageRules.editWindowSeconds) }),
          ...(messageRules.reactionEmoji === undefined ? {} : { REACTION_EMOJI: messageRules.reactionEmoji.join(',') }),
        },
        grant: () => {},
      },
    }
  }

  /** Gives `fn` the environment and the grants of each capability. */
  bind(fn: ChatFunction, capabilities: readonly Capability[]): void {
    for (const capability of capabilities) {
      const { environment, grant } = this.bindings[capability]
      fn.addEnvironmentVariables(environment)
      grant(fn)
    }
  }
}

/**
 * One managed-by-us policy per wildcard grant, attached to every role that needs it, so the
 * cdk-nag acknowledgement covers exactly that grant and nothing else in the role. Created on the
 * first attachment: a grant nobody holds (push without platform applications) makes no policy.
 */
function sharedPolicy(scope: Construct, id: string, statements: PolicyStatement[], reason: string): { attach(fn: ChatFunction): void } {
  let policy: Policy | undefined
  return {
    attach(fn) {
      if (statements.length === 0 || !fn.role) return
      if (!policy) {
        policy = new Policy(scope, `${id}Policy`, { statements })
        acknowledgeWildcards(policy, statements, reason)
      }
      policy.attachToRole(fn.role)
    },
  }
}
