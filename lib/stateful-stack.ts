import { CfnOutput, Stack } from 'aws-cdk-lib'
import type { Construct } from 'constructs'
import { logGroupSettingsOf, removalPolicyOf, retainsData, type StageStackProps } from './config.ts'
import { AttachmentsBucket } from './constructs/attachments-bucket.ts'
import { Auth } from './constructs/auth.ts'
import { Database } from './constructs/database.ts'
import { Network } from './constructs/network.ts'

/**
 * Everything that holds data or identity and must outlive a redeploy of the code: the network the
 * database lives in, the database and its proxy, the attachments bucket and the user pool. The
 * stateless stack receives these through props.
 */
export class StatefulStack extends Stack {
  readonly network: Network
  readonly database: Database
  readonly attachments: AttachmentsBucket
  readonly auth: Auth

  constructor(scope: Construct, id: string, props: StageStackProps) {
    super(scope, id, props)
    const { config } = props
    const retain = retainsData(config)
    const removalPolicy = removalPolicyOf(config)

    this.network = new Network(this, 'Network', {
      maxAzs: config.network.maxAzs,
      natGateways: config.network.natGateways,
      ...logGroupSettingsOf(config),
    })

    this.database = new Database(this, 'Database', {
      identifier: `trainer-chat-${config.stage}-postgres`,
      vpc: this.network.vpc,
      clientSecurityGroup: this.network.functionSecurityGroup,
      ...config.database,
      logRetention: config.functions.logRetentionDays,
      retain,
    })

    this.attachments = new AttachmentsBucket(this, 'Attachments', {
      corsOrigins: config.corsOrigins,
      removalPolicy,
      autoDeleteObjects: !retain,
    })

    this.auth = new Auth(this, 'Auth', { ...config.cognito, retain })

    new CfnOutput(this, 'Region', { value: this.region })
    new CfnOutput(this, 'UserPoolId', { value: this.auth.userPool.userPoolId })
    new CfnOutput(this, 'UserPoolClientId', { value: this.auth.mobileClient.userPoolClientId, description: 'Mobile app client (public, SRP)' })
    new CfnOutput(this, 'AttachmentsBucketName', { value: this.attachments.bucket.bucketName })
    new CfnOutput(this, 'DatabaseProxyEndpoint', { value: this.database.proxy.endpoint })
  }
}
