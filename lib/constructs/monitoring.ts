import { Duration, Size, Validations } from 'aws-cdk-lib'
import type { HttpApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2'
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  type Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import type { DatabaseInstance } from 'aws-cdk-lib/aws-rds'
import { Topic } from 'aws-cdk-lib/aws-sns'
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions'
import { Construct } from 'constructs'

export interface MonitoringProps {
  readonly name: string
  readonly functions: ReadonlyMap<string, IFunction>
  readonly webSocketStage: WebSocketStage
  readonly httpApi: HttpApi
  readonly database: DatabaseInstance
  readonly connectionsAlarmThreshold: number
  readonly allocatedStorageGiB: number
  readonly alarmEmail?: string
}

const FIVE_MINUTES = Duration.minutes(5)

/**
 * Alarms that page (via one SNS topic, optionally to an email address) and one dashboard.
 * Thresholds are starting points for a chat backend; tune them with real traffic.
 */
export class Monitoring extends Construct {
  readonly topic: Topic
  readonly alarms: Alarm[] = []
  readonly dashboard: Dashboard

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id)

    this.topic = new Topic(this, 'AlarmTopic', { displayName: `${props.name} alarms`, enforceSSL: true })
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail))
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'Alarm notifications carry alarm names and states, no user data. Encrypting with a KMS key would need a customer-managed key whose policy admits CloudWatch ($1/month) for no confidentiality gain.',
    })

    const alarm = (alarmId: string, metric: IMetric, threshold: number, description: string, lessThan = false) => {
      const created = new Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: lessThan
          ? ComparisonOperator.LESS_THAN_THRESHOLD
          : ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      })
      created.addAlarmAction(new SnsAction(this.topic))
      created.addOkAction(new SnsAction(this.topic))
      this.alarms.push(created)
      return created
    }

    for (const [name, fn] of props.functions) {
      alarm(`${name}Errors`, fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }), 5, `${name}: 5+ invocation errors in 5 minutes`)
      alarm(`${name}Throttles`, fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }), 1, `${name}: throttled (account or reserved concurrency exhausted)`)
    }

    const ws = props.webSocketStage
    // WebSocket APIs have no 5xx metric: ExecutionError (API Gateway's own failures) and
    // IntegrationError (Lambda failed or returned an error) are their server-side errors.
    const wsServerErrors = new MathExpression({
      expression: 'execution + integration',
      usingMetrics: {
        execution: ws.metric('ExecutionError', { period: FIVE_MINUTES, statistic: 'Sum' }),
        integration: ws.metric('IntegrationError', { period: FIVE_MINUTES, statistic: 'Sum' }),
      },
      label: 'WebSocket server errors',
      period: FIVE_MINUTES,
    })
    alarm('WebSocketServerErrors', wsServerErrors, 10, 'WebSocket API: 10+ execution/integration errors in 5 minutes')
    const wsLatency = ws.metric('IntegrationLatency', { period: FIVE_MINUTES, statistic: 'p99' })
    alarm('WebSocketIntegrationLatency', wsLatency, 3000, 'WebSocket API: p99 integration latency at or above 3 s')

    const http = props.httpApi
    const httpServerErrors = http.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' })
    alarm('HttpServerErrors', httpServerErrors, 10, 'HTTP API: 10+ 5xx responses in 5 minutes')
    const httpLatency = http.metricIntegrationLatency({ period: FIVE_MINUTES, statistic: 'p99' })
    alarm('HttpIntegrationLatency', httpLatency, 3000, 'HTTP API: p99 integration latency at or above 3 s')

    const db = props.database
    const cpu = db.metricCPUUtilization({ period: FIVE_MINUTES, statistic: 'Average' })
    alarm('DatabaseCpu', cpu, 80, 'RDS: average CPU at or above 80% for 5 minutes')
    const freeStorage = db.metricFreeStorageSpace({ period: FIVE_MINUTES, statistic: 'Minimum' })
    const freeStorageFloor = Math.max(2, Math.round(props.allocatedStorageGiB * 0.1))
    alarm(
      'DatabaseFreeStorage',
      freeStorage,
      Size.gibibytes(freeStorageFloor).toBytes(),
      `RDS: free storage below ${freeStorageFloor} GiB (storage autoscaling may be at its maximum)`,
      true,
    )
    const connections = db.metricDatabaseConnections({ period: FIVE_MINUTES, statistic: 'Maximum' })
    alarm(
      'DatabaseConnections',
      connections,
      props.connectionsAlarmThreshold,
      `RDS: ${props.connectionsAlarmThreshold}+ connections (RDS Proxy should keep this low)`,
    )

    const byFunction = (pick: (fn: IFunction) => Metric) =>
      [...props.functions].map(([name, fn]) => pick(fn).with({ label: name, period: FIVE_MINUTES }))
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.name,
      widgets: [
        [new TextWidget({ markdown: `# ${props.name}\nAlarms go to the SNS topic \`${props.name}\` alarms.`, width: 24, height: 2 })],
        [
          new GraphWidget({
            title: 'WebSocket traffic',
            left: [
              ws.metric('ConnectCount', { period: FIVE_MINUTES, statistic: 'Sum' }),
              ws.metric('MessageCount', { period: FIVE_MINUTES, statistic: 'Sum' }),
            ],
            width: 8,
          }),
          new GraphWidget({ title: 'WebSocket errors', left: [wsServerErrors, ws.metric('ClientError', { period: FIVE_MINUTES, statistic: 'Sum' })], width: 8 }),
          new GraphWidget({ title: 'WebSocket p99 integration latency (ms)', left: [wsLatency], width: 8 }),
        ],
        [
          new GraphWidget({ title: 'HTTP requests', left: [http.metricCount({ period: FIVE_MINUTES, statistic: 'Sum' })], width: 8 }),
          new GraphWidget({
            title: 'HTTP errors',
            left: [httpServerErrors, http.metricClientError({ period: FIVE_MINUTES, statistic: 'Sum' })],
            width: 8,
          }),
          new GraphWidget({ title: 'HTTP p99 integration latency (ms)', left: [httpLatency], width: 8 }),
        ],
        [
          new GraphWidget({ title: 'Lambda invocations', left: byFunction((fn) => fn.metricInvocations({ statistic: 'Sum' })), width: 8 }),
          new GraphWidget({ title: 'Lambda errors', left: byFunction((fn) => fn.metricErrors({ statistic: 'Sum' })), width: 8 }),
          new GraphWidget({ title: 'Lambda p99 duration (ms)', left: byFunction((fn) => fn.metricDuration({ statistic: 'p99' })), width: 8 }),
        ],
        [
          new GraphWidget({ title: 'RDS CPU (%)', left: [cpu], width: 8 }),
          new GraphWidget({ title: 'RDS connections', left: [connections], width: 8 }),
          new GraphWidget({ title: 'RDS free storage (bytes)', left: [freeStorage], width: 8 }),
        ],
      ],
    })
  }
}
