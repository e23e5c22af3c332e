import { createLogger } from '../adapters/logger.ts'
import type { Config } from '../config.ts'
import type { Log } from '../core/ports.ts'

/**
 * What the handlers are built from: the configuration, the log and what every AWS client gets.
 * A Lambda builds one at module scope from its environment; the local stack builds one from its
 * own settings. Nothing here is global: each caller holds what it built.
 *
 * The clients are built by the modules beside this one (delivery, database, attachments, push),
 * each imported only by the handlers that use it: esbuild bundles whatever a handler's imports
 * reach, so S3 and SNS stay out of the bundles that never touch a file or a push.
 */
export interface Base {
  config: Config
  log: Log
  aws: AwsClientSettings
}

export interface AwsClientSettings {
  region: string
  /** Locally any credentials do; in Lambda the default provider chain reads the role's. */
  credentials?: { accessKeyId: string; secretAccessKey: string }
}

export function createBase(config: Config, provided: { log?: Log; credentials?: AwsClientSettings['credentials'] | undefined } = {}): Base {
  return {
    config,
    log: provided.log ?? createLogger(config.logLevel),
    aws: { region: config.region, ...(provided.credentials ? { credentials: provided.credentials } : {}) },
  }
}
