import { fileURLToPath } from 'node:url'
import { CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib'
import { PolicyStatement } from 'aws-cdk-lib/aws-iam'
import { Architecture, Code, Function as LambdaFunction, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda'
import { Secret } from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
import { acknowledgeWildcards, LAMBDA_BASIC_EXECUTION_FINDING } from '../nag.ts'
import { logGroup, type LogGroupSettings } from './log-group.ts'

/** The log settings are the deploy-time provider function's. */
export interface PushProps extends LogGroupSettings {
  readonly namePrefix: string
  readonly apnsSecretName?: string
  readonly apnsPlatform: 'APNS' | 'APNS_SANDBOX'
  readonly fcmSecretName?: string
}

interface PlatformApplication {
  /** Platform application ARN (the custom resource's physical id). */
  readonly arn: string
  /** ARNs of the endpoints SNS creates under it (one per device token). */
  readonly endpointArnPattern: string
}

/**
 * SNS platform applications for APNs and FCM, created only when their credentials' secret name is
 * configured; without them the functions get no PUSH_* variable and the Lambda code skips push.
 */
export class Push extends Construct {
  readonly apns?: PlatformApplication
  readonly fcm?: PlatformApplication

  constructor(scope: Construct, id: string, props: PushProps) {
    super(scope, id)
    if (!props.apnsSecretName && !props.fcmSecretName) return

    const provider = new LambdaFunction(this, 'PlatformApplicationHandler', {
      description: 'Deploy-time only: creates/updates/deletes SNS platform applications from Secrets Manager credentials',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      handler: 'index.handler',
      code: Code.fromAsset(fileURLToPath(new URL('./platform-application-handler/', import.meta.url))),
      timeout: Duration.minutes(1),
      loggingFormat: LoggingFormat.JSON,
      logGroup: logGroup(this, 'PlatformApplicationHandlerLogs', props),
    })
    const stack = Stack.of(this)
    const create = (platform: 'APNS' | 'APNS_SANDBOX' | 'GCM', secretName: string, suffix: string): PlatformApplication => {
      const name = `${props.namePrefix}-${suffix}`
      Secret.fromSecretNameV2(this, `${suffix}Secret`, secretName).grantRead(provider)
      const application = new CustomResource(this, `${suffix}Application`, {
        serviceToken: provider.functionArn,
        resourceType: 'Custom::SnsPlatformApplication',
        properties: { Name: name, Platform: platform, SecretName: secretName },
      })
      return {
        arn: application.getAttString('Arn'),
        endpointArnPattern: stack.formatArn({ service: 'sns', resource: 'endpoint', resourceName: `${platform}/${name}/*` }),
      }
    }
    if (props.apnsSecretName) this.apns = create(props.apnsPlatform, props.apnsSecretName, 'apns')
    if (props.fcmSecretName) this.fcm = create('GCM', props.fcmSecretName, 'fcm')

    const manageApplications = new PolicyStatement({
      actions: ['sns:CreatePlatformApplication', 'sns:SetPlatformApplicationAttributes', 'sns:DeletePlatformApplication'],
      resources: [stack.formatArn({ service: 'sns', resource: 'app', resourceName: `*/${props.namePrefix}-*` })],
    })
    provider.addToRolePolicy(manageApplications)
    acknowledgeWildcards(
      provider,
      [manageApplications],
      'Platform application ARNs exist only after creation; the pattern admits only this stage\'s names (app/<platform>/trainer-chat-<stage>-*).',
    )
    Validations.of(provider).acknowledge({
      id: LAMBDA_BASIC_EXECUTION_FINDING,
      reason: 'AWS-maintained minimum for writing the function logs; the function logs only to its own log group.',
    })
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to nodejs22.x like every function of the project; it uses the SDK that ships with that runtime.',
    })
  }

  get applications(): PlatformApplication[] {
    return [this.apns, this.fcm].filter((application): application is PlatformApplication => application !== undefined)
  }

  /**
   * Register devices (create/refresh/delete endpoints under our applications) and publish to them.
   * Empty when push is not configured.
   */
  deviceStatements(): PolicyStatement[] {
    const applications = this.applications
    if (applications.length === 0) return []
    return [
      new PolicyStatement({
        actions: ['sns:CreatePlatformEndpoint'],
        resources: applications.map((application) => application.arn),
      }),
      new PolicyStatement({
        actions: ['sns:Publish', 'sns:GetEndpointAttributes', 'sns:SetEndpointAttributes', 'sns:DeleteEndpoint'],
        resources: applications.map((application) => application.endpointArnPattern),
      }),
    ]
  }
}
