import { RemovalPolicy, Validations } from 'aws-cdk-lib'
import { CfnAccount } from 'aws-cdk-lib/aws-apigateway'
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { Construct } from 'constructs'

/**
 * WebSocket stages can only write access logs once the account (per region) has an API Gateway
 * CloudWatch Logs role. This is an account-wide setting: exactly one stack per account/region
 * should own it (`manageApiGatewayAccountRole` in cdk.json turns it off here). The role is
 * retained on deletion so other APIs in the account keep logging.
 */
export class ApiGatewayLoggingRole extends Construct {
  readonly account: CfnAccount

  constructor(scope: Construct, id: string) {
    super(scope, id)
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
    })
    role.applyRemovalPolicy(RemovalPolicy.RETAIN)
    this.account = new CfnAccount(this, 'Account', { cloudWatchRoleArn: role.roleArn })

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'The AWS-maintained policy API Gateway documents for its account-level logging role; API Gateway names the log groups itself, so no narrower resource list can be written in advance.',
    })
  }
}
