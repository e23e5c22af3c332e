import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib'
import { InstanceType, Port, type ISecurityGroup, SecurityGroup, SubnetType, type IVpc } from 'aws-cdk-lib/aws-ec2'
import type { IGrantable } from 'aws-cdk-lib/aws-iam'
import type { RetentionDays } from 'aws-cdk-lib/aws-logs'
import {
  CaCertificate,
  Credentials,
  DatabaseInstance,
  DatabaseInstanceEngine,
  type DatabaseProxy,
  PostgresEngineVersion,
  StorageType,
} from 'aws-cdk-lib/aws-rds'
import { Construct } from 'constructs'
import { logGroup } from './log-group.ts'

export interface DatabaseProps {
  /** DB instance identifier; fixed so its log group can be created (with a retention) before it. */
  readonly identifier: string
  readonly vpc: IVpc
  /** Functions' security group: the only thing allowed to reach the proxy. */
  readonly clientSecurityGroup: ISecurityGroup
  readonly instanceType: string
  readonly allocatedStorageGiB: number
  readonly maxAllocatedStorageGiB: number
  readonly multiAz: boolean
  readonly backupRetentionDays: number
  readonly deletionProtection: boolean
  readonly databaseName: string
  readonly username: string
  readonly secretRotationDays: number
  readonly logRetention: RetentionDays
  readonly retain: boolean
}

/**
 * PostgreSQL behind RDS Proxy. Lambdas never see a password: they sign a 15-minute IAM token
 * (`rds-db:connect`) for the proxy, and only the proxy holds the Secrets Manager credential it
 * uses towards the instance. The proxy multiplexes thousands of short-lived Lambda connections
 * onto a small pool, so a burst of invocations cannot exhaust `max_connections`.
 *
 * PostgreSQL 17: the newest major that RDS Proxy supports for PostgreSQL at the time of writing.
 */
export class Database extends Construct {
  readonly instance: DatabaseInstance
  readonly proxy: DatabaseProxy
  readonly databaseName: string
  readonly username: string
  /** The proxy's listener; RDS Proxy for PostgreSQL always listens on 5432. */
  readonly port = 5432

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id)
    this.databaseName = props.databaseName
    this.username = props.username
    const isolated = { subnetType: SubnetType.PRIVATE_ISOLATED }

    // Created here rather than with `cloudwatchLogsRetention`, which would add a log-retention
    // Lambda to the stack just to set a number.
    const postgresLogs = logGroup(
      this,
      'PostgresLogs',
      { logRetention: props.logRetention, removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY },
      `/aws/rds/instance/${props.identifier}/postgresql`,
    )

    this.instance = new DatabaseInstance(this, 'Instance', {
      instanceIdentifier: props.identifier,
      engine: DatabaseInstanceEngine.postgres({ version: PostgresEngineVersion.VER_17 }),
      instanceType: new InstanceType(props.instanceType),
      vpc: props.vpc,
      vpcSubnets: isolated,
      credentials: Credentials.fromGeneratedSecret(props.username),
      databaseName: props.databaseName,
      storageType: StorageType.GP3,
      allocatedStorage: props.allocatedStorageGiB,
      maxAllocatedStorage: props.maxAllocatedStorageGiB,
      storageEncrypted: true,
      multiAz: props.multiAz,
      backupRetention: Duration.days(props.backupRetentionDays),
      deleteAutomatedBackups: !props.retain,
      deletionProtection: props.deletionProtection,
      removalPolicy: props.retain ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      // RDS Proxy, not the clients, authenticates to the instance; enabling IAM here lets an
      // operator use a token too (psql through a bastion) without sharing the master password.
      iamAuthentication: true,
      publiclyAccessible: false,
      autoMinorVersionUpgrade: true,
      caCertificate: CaCertificate.RDS_CA_RSA2048_G1,
      cloudwatchLogsExports: ['postgresql'],
    })
    this.instance.node.addDependency(postgresLogs)

    const proxySecurityGroup = new SecurityGroup(this, 'ProxySecurityGroup', {
      vpc: props.vpc,
      description: 'RDS Proxy for trainer-chat',
      allowAllOutbound: false,
    })
    this.proxy = this.instance.addProxy('Proxy', {
      vpc: props.vpc,
      vpcSubnets: isolated,
      securityGroups: [proxySecurityGroup],
      secrets: [this.instance.secret!],
      iamAuth: true,
      requireTLS: true,
      // Lambda connections are idle between invocations; recycle them well before Lambda freezes
      // an environment for good, but not so soon that a warm function reconnects every call.
      idleClientTimeout: Duration.minutes(10),
      // Leave headroom for the rotation Lambda and an operator session.
      maxConnectionsPercent: 90,
      borrowTimeout: Duration.seconds(10),
    })

    // Both ends of each rule (egress on the source, ingress on the target) are added by Connections.
    this.proxy.connections.allowFrom(props.clientSecurityGroup, Port.tcp(this.port), 'Lambda functions to RDS Proxy')
    this.instance.connections.allowFrom(proxySecurityGroup, Port.tcp(this.port), 'RDS Proxy to PostgreSQL')

    // Rotation runs in the application subnets: it needs Secrets Manager (through NAT) and the instance.
    this.instance.addRotationSingleUser({
      automaticallyAfter: Duration.days(props.secretRotationDays),
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
    })

    Validations.of(this.instance).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'The instance is reachable only from the RDS Proxy security group in isolated subnets; clients see the proxy, whose PostgreSQL listener is fixed at 5432. A non-default port would add no protection.',
    })
    if (!props.multiAz) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-RDS3',
        reason: 'Single-AZ only in stages configured so (dev): the data there is disposable and Multi-AZ doubles the instance cost. prod sets multiAz.',
      })
    }
    if (!props.deletionProtection) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Deletion protection is off only in stages configured so (dev) so the stage can be torn down; prod enables it.',
      })
    }
  }

  /** Lets a function open IAM-authenticated connections through the proxy as the database user. */
  grantConnect(grantee: IGrantable): void {
    this.proxy.grantConnect(grantee, this.username)
  }
}
