import { createSnsCall, createSnsPush } from '../adapters/sns-push.ts'
import type { PushNotifier } from '../core/ports.ts'
import type { Base } from './base.ts'

/**
 * SNS mobile push (the configured endpoint, else AWS), with short timeouts: a push is sent after
 * the acknowledgement, but the invocation still waits for it. Undefined when no platform
 * application is configured: then nobody gets pushes.
 */
export function pushNotifier(base: Base): PushNotifier | undefined {
  const { apnsPlatformApplicationArn: ios, gcmPlatformApplicationArn: android, endpoint } = base.config.push
  if (!ios && !android) return undefined
  const call = createSnsCall({
    region: base.aws.region,
    endpoint,
    credentials: base.aws.credentials,
    maxAttempts: 2,
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 3000,
  })
  return createSnsPush(call, { ...(ios ? { ios } : {}), ...(android ? { android } : {}) })
}
