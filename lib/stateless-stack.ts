import { Aws, CfnOutput, Duration, Stack } from 'aws-cdk-lib'
import { Rule, Schedule } from 'aws-cdk-lib/aws-events'
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets'
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers'
import type { Construct } from 'constructs'
import { Capabilities } from './capabilities.ts'
import { logGroupSettingsOf, type StageStackProps } from './config.ts'
import { ApiGatewayLoggingRole } from './constructs/api-gateway-logging.ts'
import { ChatFunction } from './constructs/chat-function.ts'
import { ConsoleSite } from './constructs/console-site.ts'
import { ChatHttpApi } from './constructs/http-api.ts'
import { Monitoring } from './constructs/monitoring.ts'
import { Push } from './constructs/push.ts'
import { ChatWebSocketApi } from './constructs/websocket-api.ts'
import { FUNCTIONS, type FunctionSpec, type HandlerName, MIGRATION_HANDLER, WEBSOCKET_AUTHORIZER } from './functions.ts'
import { deployedHttpRoutes, deployedWebSocketRoutes } from './routes.ts'
import type { StatefulStack } from './stateful-stack.ts'

export interface StatelessStackProps extends StageStackProps {
  readonly stateful: StatefulStack
}

/** The migration function may run long DDL; everything else keeps the 5 s default from lambdas/config.ts. */
const MIGRATION_STATEMENT_TIMEOUT = Duration.minutes(4)

/**
 * Code and the doors to it: every function of lib/functions.ts, the WebSocket and HTTP APIs over
 * the declared routes, each function's capabilities, the migration trigger that runs before
 * either API takes traffic, push, alarms and the dashboard. Safe to destroy and redeploy at will;
 * all state lives in the stateful stack.
 */
export class StatelessStack extends Stack {
  readonly functions = new Map<HandlerName, ChatFunction>()
  readonly webSocket: ChatWebSocketApi
  readonly http: ChatHttpApi
  readonly migrations: Trigger
  readonly monitoring: Monitoring
  readonly console: ConsoleSite

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props)
    const { config, stateful } = props
    const { database, attachments, auth, network } = stateful
    const namePrefix = `trainer-chat-${config.stage}`
    const logs = logGroupSettingsOf(config)
    const specs = FUNCTIONS as readonly FunctionSpec[]

    const push = new Push(this, 'Push', { namePrefix, ...config.push, ...logs })

    for (const spec of specs) {
      const fn = new ChatFunction(this, constructId(spec.handler), {
        handler: spec.handler,
        description: spec.description,
        environment: {
          LOG_LEVEL: config.functions.logLevel,
          ...(config.functions.sourceMapStackTraces ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
          ...(spec.handler === MIGRATION_HANDLER
            ? { DB_STATEMENT_TIMEOUT_MS: String(MIGRATION_STATEMENT_TIMEOUT.toMilliseconds()) }
            : {}),
        },
        ...(spec.outsideVpc
          ? {}
          : { network: { vpc: network.vpc, securityGroup: network.functionSecurityGroup } }),
        memoryMiB: spec.memoryMiB ?? config.functions.memoryMiB,
        timeout: Duration.seconds(spec.timeoutSeconds ?? config.functions.timeoutSeconds),
        ...logs,
      })
      this.functions.set(spec.handler as HandlerName, fn)
      if (spec.everyMinutes) {
        new Rule(this, `${constructId(spec.handler)}Schedule`, {
          description: `Runs ${spec.handler} every ${spec.everyMinutes} minutes`,
          schedule: Schedule.rate(Duration.minutes(spec.everyMinutes)),
          // A missed run is caught up by the next one; don't pile retries onto a struggling database.
          targets: [new LambdaFunction(fn, { retryAttempts: 0, maxEventAge: Duration.minutes(spec.everyMinutes) })],
        })
      }
    }
    const functionFor = (handler: HandlerName): ChatFunction => {
      const fn = this.functions.get(handler)
      if (!fn) throw new Error(`No function for handler ${handler}`)
      return fn
    }

    this.webSocket = new ChatWebSocketApi(this, 'WebSocket', {
      apiName: `${namePrefix}-ws`,
      stageName: config.stage,
      routes: deployedWebSocketRoutes(),
      functionFor,
      authorizer: functionFor(WEBSOCKET_AUTHORIZER),
      throttle: config.throttling.webSocket,
      ...logs,
    })
    if (config.manageApiGatewayAccountRole) {
      const logging = new ApiGatewayLoggingRole(this, 'ApiGatewayLogging')
      this.webSocket.stage.node.addDependency(logging.account)
    }

    this.console = new ConsoleSite(this, 'Console', {
      userPool: auth.userPool,
      domainPrefix: `${namePrefix}-${Aws.ACCOUNT_ID}`,
      issuer: auth.issuer,
      stage: config.stage,
      autoDeleteObjects: true,
    })
    this.http = new ChatHttpApi(this, 'Http', {
      apiName: `${namePrefix}-http`,
      routes: deployedHttpRoutes(),
      functionFor,
      userPool: auth.userPool,
      userPoolClients: [auth.mobileClient, this.console.client],
      corsOrigins: [...config.corsOrigins, this.console.origin],
      throttle: config.throttling.http,
      ...logs,
    })

    // Capabilities are bound last: CONNECTIONS_ENDPOINT exists only once the WebSocket API does.
    const capabilities = new Capabilities(this, {
      database,
      auth,
      attachments,
      push,
      webSocket: this.webSocket,
      corsOrigins: config.corsOrigins,
      messageRules: config.messages,
    })
    for (const spec of specs) capabilities.bind(functionFor(spec.handler as HandlerName), spec.capabilities)

    // Migrations run inside the deployment, after the database and before the APIs and functions
    // that need the new schema are created or updated. A thrown error fails the custom resource,
    // so the deployment fails and rolls back instead of serving code against an old schema.
    const migrate = functionFor(MIGRATION_HANDLER)
    this.migrations = new Trigger(this, 'RunMigrations', {
      handler: migrate,
      invocationType: InvocationType.REQUEST_RESPONSE,
      timeout: migrate.timeout ?? Duration.minutes(5),
      executeOnHandlerChange: true,
    })
    this.migrations.executeBefore(
      this.webSocket,
      this.http,
      ...[...this.functions.values()].filter((fn) => fn !== migrate),
    )
    this.monitoring = new Monitoring(this, 'Monitoring', {
      name: namePrefix,
      functions: new Map([...this.functions].filter(([handler]) => handler !== MIGRATION_HANDLER)),
      webSocketStage: this.webSocket.stage,
      httpApi: this.http.api,
      database: database.instance,
      connectionsAlarmThreshold: config.database.connectionsAlarmThreshold,
      allocatedStorageGiB: config.database.allocatedStorageGiB,
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    })

    new CfnOutput(this, 'WebSocketUrl', { value: this.webSocket.stage.url, description: 'wss:// URL the apps connect to' })
    new CfnOutput(this, 'HttpApiUrl', { value: this.http.url, description: 'Base URL of the REST routes' })
    this.console.publish(this.http.url)
    new CfnOutput(this, 'ConsoleUrl', { value: this.console.url, description: 'The moderation console (sign in with an admin of the user pool)' })
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn })
  }
}

/** `ws-send-message` → `WsSendMessage`. */
function constructId(handler: string): string {
  return handler
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')
}
