import type { MiddlewareObj } from '@middy/core'
import { createLogger, logOf } from '../adapters/logger.ts'
import { counterOf, createMetrics, NO_COUNTS } from '../adapters/metrics.ts'
import type { Config } from '../config.ts'
import { DEFAULT_TOKEN_AGE_POLICY, type TokenAgePolicy } from '../core/identity.ts'
import type { Counter, Log } from '../core/ports.ts'
import { observability } from './observability.ts'

/**
 * What the handlers are built from: the configuration, the log, the metrics, the middlewares
 * every handler wears, and what every AWS client gets. A Lambda builds one at module scope from
 * its environment; the local stack builds one from its own settings. Nothing here is global: each
 * caller holds what it built.
 *
 * The clients are built by the modules beside this one (delivery, database, attachments, push),
 * each imported only by the handlers that use it: esbuild bundles whatever a handler's imports
 * reach, so S3 and SNS stay out of the bundles that never touch a file or a push.
 */
export interface Base {
  config: Config
  log: Log
  metrics: Counter
  /** Applied to every handler after its own middlewares (log context, metrics flush). */
  middlewares: MiddlewareObj[]
  aws: AwsClientSettings
}

export interface AwsClientSettings {
  region: string
  /** Locally any credentials do; in Lambda the default provider chain reads the role's. */
  credentials?: { accessKeyId: string; secretAccessKey: string }
}

export interface BaseOptions {
  credentials?: AwsClientSettings['credentials'] | undefined
  /** False for the local stack: its log lines get no Lambda context and its counts are not published. */
  lambda?: boolean
}

export function createBase(config: Config, options: BaseOptions = {}): Base {
  const logger = createLogger(config.logLevel)
  const lambda = options.lambda ?? true
  const metrics = createMetrics()
  return {
    config,
    log: logOf(logger),
    metrics: lambda ? counterOf(metrics) : NO_COUNTS,
    middlewares: lambda ? observability(logger, metrics) : [],
    aws: { region: config.region, ...(options.credentials ? { credentials: options.credentials } : {}) },
  }
}

/** The token age rule the REST handlers apply to the claims API Gateway verified (the authorizer's own verifier reads config.jwt). */
export function tokenAgePolicy(config: Config): TokenAgePolicy {
  return { maxLifetimeSeconds: config.jwt.maxTokenLifetimeSeconds, clockToleranceSeconds: DEFAULT_TOKEN_AGE_POLICY.clockToleranceSeconds }
}
