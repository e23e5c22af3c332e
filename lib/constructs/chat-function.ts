import { fileURLToPath } from 'node:url'
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib'
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2'
import { SubnetType } from 'aws-cdk-lib/aws-ec2'
import { ApplicationLogLevel, Architecture, LoggingFormat, Runtime, SystemLogLevel } from 'aws-cdk-lib/aws-lambda'
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs'
import type { Construct } from 'constructs'
import bundling from '../bundling.json' with { type: 'json' }
import { LAMBDA_BASIC_EXECUTION_FINDING, LAMBDA_VPC_ACCESS_FINDING } from '../nag.ts'
import { logGroup, type LogGroupSettings } from './log-group.ts'

/**
 * The environment a handler may receive: the keys `lambdas/config.ts` parses. Typed here so a
 * misspelt variable is a compile error, not a silently applied default at run time.
 */
export interface LambdaEnvironment {
  LOG_LEVEL: 'debug' | 'info' | 'warn' | 'error'
  /** Node itself, not lambdas/config.ts: `--enable-source-maps` when stack traces should show .ts lines. */
  NODE_OPTIONS?: string
  DB_HOST?: string
  DB_PORT?: string
  DB_NAME?: string
  DB_USER?: string
  DB_IAM_AUTH?: 'true' | 'false'
  DB_SSL?: 'true' | 'false'
  DB_STATEMENT_TIMEOUT_MS?: string
  CONNECTIONS_ENDPOINT?: string
  JWT_ISSUER?: string
  JWT_AUDIENCE?: string
  JWT_TOKEN_USE?: 'id' | 'access'
  ALLOWED_ORIGINS?: string
  ATTACHMENTS_BUCKET?: string
  PUSH_APNS_PLATFORM_APPLICATION_ARN?: string
  PUSH_GCM_PLATFORM_APPLICATION_ARN?: string
  MESSAGE_EDIT_WINDOW_SECONDS?: string
  /** Comma-separated. */
  REACTION_EMOJI?: string
}

/** The log settings are the function's log group's. */
export interface ChatFunctionProps extends LogGroupSettings {
  /** File name under lambdas/handlers/, without `.ts`. */
  readonly handler: string
  readonly description: string
  readonly environment: LambdaEnvironment
  /** Omit only for functions that must not (or need not) reach anything inside the VPC. */
  readonly network?: { readonly vpc: IVpc; readonly securityGroup: ISecurityGroup }
  readonly memoryMiB: number
  readonly timeout: Duration
}

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Absolute path of a handler's source file. */
export function handlerEntry(handler: string): string {
  return `${PROJECT_ROOT}lambdas/handlers/${handler}.ts`
}

const APPLICATION_LOG_LEVEL: Record<LambdaEnvironment['LOG_LEVEL'], ApplicationLogLevel> = {
  debug: ApplicationLogLevel.DEBUG,
  info: ApplicationLogLevel.INFO,
  warn: ApplicationLogLevel.WARN,
  error: ApplicationLogLevel.ERROR,
}

/**
 * Every trainer-chat Lambda: Node.js 22 on Graviton, one ESM bundle per handler built locally by
 * esbuild (no Docker), JSON logs into a log group with a retention, placed in the application
 * subnets unless told otherwise. The AWS SDK v3 is bundled, not taken from the runtime, so the
 * version we test is the version we run (and tree-shaking keeps it small).
 */
export class ChatFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: ChatFunctionProps) {
    super(scope, id, {
      entry: handlerEntry(props.handler),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memoryMiB,
      timeout: props.timeout,
      environment: { ...props.environment },
      // Only the migration trigger publishes versions (one per code change); don't hoard old ones.
      currentVersionOptions: { removalPolicy: RemovalPolicy.DESTROY },
      logGroup: logGroup(scope, `${id}Logs`, props),
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: APPLICATION_LOG_LEVEL[props.environment.LOG_LEVEL],
      systemLogLevelV2: SystemLogLevel.WARN,
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
            securityGroups: [props.network.securityGroup],
          }
        : {}),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: bundling.target,
        mainFields: bundling.mainFields,
        minify: bundling.minify,
        sourceMap: true,
        // "linked": the map beside the bundle plus the sourceMappingURL comment that Node's
        // --enable-source-maps (NODE_OPTIONS, per stage) needs to find it.
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: bundling.sourcesContent,
        banner: bundling.banner,
        bundleAwsSDK: true,
        externalModules: bundling.external,
      },
    })

    const role = this.role
    if (role) {
      Validations.of(role).acknowledge({
        id: LAMBDA_BASIC_EXECUTION_FINDING,
        reason: 'AWS-maintained minimum for writing the function logs; the function logs only to its own log group.',
      })
      if (props.network) {
        Validations.of(role).acknowledge({
          id: LAMBDA_VPC_ACCESS_FINDING,
          reason: 'AWS-maintained minimum for Lambda to manage its ENIs in the VPC; those EC2 actions accept no narrower resource.',
        })
      }
    }
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: it is the Node major the code is tested on (see package.json engines); move to the next LTS as a deliberate upgrade.',
    })
  }

  /** Adds variables known only after the function exists (e.g. the API that invokes it). */
  addEnvironmentVariables(environment: Partial<LambdaEnvironment>): void {
    for (const [key, value] of Object.entries(environment)) {
      if (value !== undefined) this.addEnvironment(key, value)
    }
  }
}
