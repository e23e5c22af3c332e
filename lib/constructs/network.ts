import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  IpAddresses,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2'
import { Construct } from 'constructs'
import { logGroup, type LogGroupSettings } from './log-group.ts'

/** The log settings are the flow logs'. */
export interface NetworkProps extends LogGroupSettings {
  readonly maxAzs: number
  readonly natGateways: number
}

/**
 * Three tiers: public subnets only for the NAT gateways, application subnets (Lambda) with egress
 * through NAT, and isolated subnets (database, RDS Proxy) with no route out at all.
 *
 * Egress is NAT, not interface endpoints, because the one destination every chat function needs, the
 * WebSocket management API (`{apiId}.execute-api…/@connections`), is a public API and an `execute-api`
 * interface endpoint only reaches private APIs: with its private DNS on, posts to connections fail
 * with 403 ForbiddenException. S3 goes through a free gateway endpoint so attachment bytes skip
 * the NAT's per-GB charge. Costs are in docs/deploy.md.
 */
export class Network extends Construct {
  readonly vpc: Vpc
  /** Attached to every function in the VPC: HTTPS out, Postgres to the proxy, nothing in. */
  readonly functionSecurityGroup: SecurityGroup

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id)

    const flowLogs = logGroup(this, 'FlowLogs', props)

    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: props.maxAzs,
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        // /20 per AZ: each concurrently running VPC function shares Hyperplane ENIs, but leave room.
        { name: 'app', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'data', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3, subnets: [{ subnetType: SubnetType.PRIVATE_WITH_EGRESS }] },
      },
      // Rejected packets only: enough to debug a security group, cheap at any traffic level.
      flowLogs: {
        rejected: { destination: FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: FlowLogTrafficType.REJECT },
      },
    })

    this.functionSecurityGroup = new SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: this.vpc,
      description: 'trainer-chat Lambda functions',
      allowAllOutbound: false,
    })
    // The app subnets route 0.0.0.0/0 only to the NAT and S3's prefix to the gateway endpoint, so
    // "HTTPS anywhere" means AWS APIs (management API, SNS, S3) and Cognito's JWKS.
    this.functionSecurityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'HTTPS to AWS APIs through NAT / S3 endpoint')
  }
}
