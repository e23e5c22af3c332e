import type { RemovalPolicy } from 'aws-cdk-lib'
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs'
import type { Construct } from 'constructs'

/** How long a construct's log group keeps events, and what becomes of it when the stack goes. */
export interface LogGroupSettings {
  readonly logRetention: RetentionDays
  readonly removalPolicy: RemovalPolicy
}

/**
 * A log group of ours: created explicitly (no log-retention Lambda), with the stage's retention and
 * removal policy; `logGroupName` where AWS writes to a group of a fixed name (RDS), else generated.
 */
export function logGroup(scope: Construct, id: string, settings: LogGroupSettings, logGroupName?: string): LogGroup {
  return new LogGroup(scope, id, { ...(logGroupName === undefined ? {} : { logGroupName }), retention: settings.logRetention, removalPolicy: settings.removalPolicy })
}
