import { loadOnFirstUse } from '../adapters/load-on-first-use.ts'
import type { PushNotifier } from '../core/ports.ts'
import type { Base } from './base.ts'

/**
 * SNS mobile push (the configured endpoint, else AWS), with short timeouts: a push is sent after
 * the acknowledgement, but the invocation still waits for it. Undefined when no platform
 * application is configured: then nobody gets pushes. The SDK client is loaded on first use.
 */
export function pushNotifier(base: Base): PushNotifier | undefined {
  const { apnsPlatformApplicationArn: ios, gcmPlatformApplicationArn: android, endpoint } = base.config.push
  if (!ios && !android) return undefined
  return loadOnFirstUse(async () => {
    const [{ SNSClient }, { createSnsPush }] = await Promise.all([import('@aws-sdk/client-sns'), import('../adapters/sns-push.ts')])
    const client = new SNSClient({
      ...base.aws,
      ...(endpoint ? { endpoint } : {}),
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 },
    })
    return createSnsPush(client, { ...(ios ? { ios } : {}), ...(android ? { android } : {}) })
  }, ['registerEndpoint', 'publish', 'deleteEndpoint'])
}
