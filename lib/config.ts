import * as z from 'zod/mini'
import { RemovalPolicy, type StackProps } from 'aws-cdk-lib'
import { RetentionDays } from 'aws-cdk-lib/aws-logs'
import type { LogGroupSettings } from './constructs/log-group.ts'

/**
 * Per-stage deployment settings, read from CDK context and validated once.
 *
 * `cdk.json` holds one object per stage under `trainer-chat:stages`; `-c stage=dev|prod` picks one.
 * A few values that differ per operator rather than per stage can be overridden on the command
 * line without editing cdk.json: `-c alarmEmail=… -c corsOrigins=https://a,https://b -c account=…
 * -c region=… -c apnsSecretName=… -c fcmSecretName=…`.
 */

export const STAGES = ['dev', 'prod'] as const
export type StageName = (typeof STAGES)[number]

const positiveInt = z.int().check(z.positive())
const throttle = z.object({
  /** Steady-state requests (WebSocket: messages) per second. */
  rateLimit: positiveInt,
  /** Bucket size for short bursts. */
  burstLimit: positiveInt,
})
const retentionDays = z.int().check(
  z.refine((days) => Object.values(RetentionDays).includes(days), 'must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, …)'),
)

const StageSchema = z.object({
  /** Pin the stacks to an account/region; omit to synthesize environment-agnostic stacks (no lookups). */
  account: z.optional(z.string().check(z.regex(/^\d{12}$/))),
  region: z.optional(z.string().check(z.regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/))),

  /**
   * What happens to stateful resources (database, bucket, user pool, log groups) when the stack is
   * deleted: `destroy` for throw-away stages, `retain` keeps them (the database leaves a snapshot).
   */
  removalPolicy: z.enum(['destroy', 'retain']),

  network: z.object({
    maxAzs: z._default(z.int().check(z.gte(2), z.lte(3)), 2),
    /** One NAT gateway is a single-AZ egress; one per AZ survives an AZ outage at ~$33/month each. */
    natGateways: z._default(z.int().check(z.gte(1), z.lte(3)), 1),
  }),

  database: z.object({
    /** Instance class without the `db.` prefix, e.g. `t4g.micro`, `m7g.large`. */
    instanceType: z.string().check(z.regex(/^[a-z0-9-]+\.[a-z0-9]+$/)),
    allocatedStorageGiB: z._default(z.int().check(z.gte(20)), 20),
    maxAllocatedStorageGiB: z._default(z.int().check(z.gte(20)), 100),
    multiAz: z.boolean(),
    backupRetentionDays: z.int().check(z.gte(1), z.lte(35)),
    deletionProtection: z.boolean(),
    databaseName: z._default(z.string().check(z.regex(/^[a-z][a-z0-9_]{0,62}$/)), 'trainer_chat'),
    /** Master user; RDS Proxy maps IAM-authenticated clients onto it (see docs/deploy.md). */
    username: z._default(z.string().check(z.regex(/^[a-z][a-z0-9_]{0,15}$/)), 'trainer_chat'),
    secretRotationDays: z._default(z.int().check(z.gte(1), z.lte(365)), 30),
    /** Alarm when connections to the instance exceed this (RDS Proxy keeps it well below max_connections). */
    connectionsAlarmThreshold: positiveInt,
  }),

  functions: z.object({
    memoryMiB: z._default(z.int().check(z.gte(128), z.lte(10240)), 512),
    timeoutSeconds: z._default(z.int().check(z.gte(1), z.lte(29)), 10),
    logRetentionDays: retentionDays,
    logLevel: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info'),
    /**
     * Map stack traces to TypeScript lines at run time (NODE_OPTIONS=--enable-source-maps). Costs
     * roughly 15–40 ms of cold start per ~1 MB map; off, the .map files still ship for offline use.
     */
    sourceMapStackTraces: z._default(z.boolean(), false),
  }),

  /** Stage-wide defaults; hot routes get their own limits in lib/routes.ts. */
  throttling: z.object({ webSocket: throttle, http: throttle }),

  /** Browser origins (admin console, local web dev). Native apps send no Origin and need no CORS. */
  corsOrigins: z._default(z.array(z.url()), []),
  alarmEmail: z.optional(z.email()),

  push: z._default(
    z.object({
      /** Secrets Manager secret name holding APNs credentials; no platform application when absent. */
      apnsSecretName: z.optional(z.string().check(z.minLength(1))),
      apnsPlatform: z._default(z.enum(['APNS', 'APNS_SANDBOX']), 'APNS_SANDBOX'),
      /** Secrets Manager secret name holding the FCM service-account JSON. */
      fcmSecretName: z.optional(z.string().check(z.minLength(1))),
    }),
    { apnsPlatform: 'APNS_SANDBOX' },
  ),

  /** The message rules the handlers enforce (lambdas/config.ts MESSAGE_EDIT_WINDOW_SECONDS, REACTION_EMOJI); their defaults when absent. */
  messages: z._default(
    z.object({
      /** How long after sending the sender may edit a message. */
      editWindowSeconds: z.optional(positiveInt),
      /** The emoji a reaction may use, in the order apps should offer them. */
      reactionEmoji: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(32), z.refine((emoji) => !emoji.includes(','), 'must not contain a comma'))).check(z.minLength(1), z.maxLength(64))),
    }),
    {},
  ),

  cognito: z.object({
    /** `plus` is required for threat protection; see the cost table in docs/deploy.md. */
    featurePlan: z.enum(['lite', 'essentials', 'plus']),
    threatProtection: z.enum(['off', 'audit', 'enforced']),
    selfSignUp: z._default(z.boolean(), true),
  }),

  /**
   * API Gateway needs one account-wide CloudWatch Logs role before a WebSocket stage can write
   * access logs. Turn this off if another stack in the account/region already sets it.
   */
  manageApiGatewayAccountRole: z._default(z.boolean(), true),
})

export type StageSettings = z.infer<typeof StageSchema>
export type StageConfig = Readonly<StageSettings & { stage: StageName }>

/** The props of either stack of a stage. */
export interface StageStackProps extends StackProps {
  readonly config: StageConfig
}

/** Whether the stage keeps its stateful resources when its stacks are deleted (`removalPolicy: retain`). */
export function retainsData(config: StageConfig): boolean {
  return config.removalPolicy === 'retain'
}

/** The stage's `removalPolicy` as CDK spells it. */
export function removalPolicyOf(config: StageConfig): RemovalPolicy {
  return retainsData(config) ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY
}

/** What every log group of the stage gets: the functions' retention, the stage's removal policy. */
export function logGroupSettingsOf(config: StageConfig): LogGroupSettings {
  return { logRetention: config.functions.logRetentionDays, removalPolicy: removalPolicyOf(config) }
}

/** What a construct scope can tell us: just CDK context. */
interface ContextSource {
  node: { tryGetContext(key: string): unknown }
}

const STAGES_CONTEXT_KEY = 'trainer-chat:stages'

/** Flat command-line overrides, so operators need not edit cdk.json for per-person values. */
function overridesFrom(scope: ContextSource): Record<string, unknown> {
  const read = (key: string) => {
    const value = scope.node.tryGetContext(key)
    return typeof value === 'string' && value.length > 0 ? value : undefined
  }
  const overrides: Record<string, unknown> = {}
  const alarmEmail = read('alarmEmail')
  const corsOrigins = read('corsOrigins')
  const account = read('account')
  const region = read('region')
  if (alarmEmail) overrides.alarmEmail = alarmEmail
  if (corsOrigins) overrides.corsOrigins = corsOrigins.split(',').map((origin) => origin.trim()).filter(Boolean)
  if (account) overrides.account = account
  if (region) overrides.region = region
  return overrides
}

function pushOverridesFrom(scope: ContextSource): Record<string, unknown> {
  const overrides: Record<string, unknown> = {}
  for (const key of ['apnsSecretName', 'fcmSecretName', 'apnsPlatform']) {
    const value = scope.node.tryGetContext(key)
    if (typeof value === 'string' && value.length > 0) overrides[key] = value
  }
  return overrides
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Reads `-c stage=…` (default `dev`), merges the stage's object from cdk.json with command-line
 * overrides and validates the result. Throws with every problem listed, naming its path.
 */
export function loadStageConfig(scope: ContextSource): StageConfig {
  const requested: unknown = scope.node.tryGetContext('stage') ?? 'dev'
  const stage = STAGES.find((name) => name === requested)
  if (!stage) {
    throw new Error(`Unknown stage "${String(requested)}": pass -c stage=${STAGES.join('|')}`)
  }
  const stages = scope.node.tryGetContext(STAGES_CONTEXT_KEY)
  const raw = isRecord(stages) ? stages[stage] : undefined
  if (!isRecord(raw)) {
    throw new Error(`cdk.json has no context "${STAGES_CONTEXT_KEY}.${stage}" object`)
  }
  const push = { ...(isRecord(raw.push) ? raw.push : {}), ...pushOverridesFrom(scope) }
  const result = StageSchema.safeParse({ ...raw, ...overridesFrom(scope), push })
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${[stage, ...issue.path].join('.')}: ${issue.message}`)
    throw new Error(`Invalid configuration for stage "${stage}":\n  ${problems.join('\n  ')}`)
  }
  const settings = result.data
  if (settings.cognito.threatProtection !== 'off' && settings.cognito.featurePlan !== 'plus') {
    throw new Error(`Invalid configuration for stage "${stage}": cognito.threatProtection needs cognito.featurePlan "plus"`)
  }
  if (settings.network.natGateways > settings.network.maxAzs) {
    throw new Error(`Invalid configuration for stage "${stage}": network.natGateways exceeds network.maxAzs`)
  }
  if (settings.database.maxAllocatedStorageGiB < settings.database.allocatedStorageGiB) {
    throw new Error(`Invalid configuration for stage "${stage}": database.maxAllocatedStorageGiB is below allocatedStorageGiB`)
  }
  return Object.freeze({ ...settings, stage })
}
