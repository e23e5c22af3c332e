import { createDeviceStore } from './adapters/device-store.ts'
import { loadOnFirstUse } from './adapters/load-on-first-use.ts'
import { config } from './config.ts'
import type { PushNotifier } from './core/ports.ts'
import type { PushPorts } from './core/push.ts'
import { db, onRuntimeReset } from './runtime.ts'

/** Push notifications for the handlers that send or register them (see runtime.ts for why it is apart). */

/** null: no platform application is configured, so nobody gets pushes. */
let notifier: PushNotifier | null | undefined
onRuntimeReset(() => (notifier = undefined))

/**
 * SNS (AWS_ENDPOINT_URL_SNS or AWS_ENDPOINT_URL locally), with short timeouts: a push is sent
 * after the acknowledgement, but the invocation still waits for it. Undefined when no platform
 * application is configured: then nobody gets pushes. The client is built on first use.
 */
export function pushPorts(): PushPorts | undefined {
  if (notifier === undefined) {
    const { apnsPlatformApplicationArn: ios, gcmPlatformApplicationArn: android } = config().push
    notifier =
      ios || android
        ? loadOnFirstUse(async () => {
            const [{ SNSClient }, { createSnsPush }] = await Promise.all([import('@aws-sdk/client-sns'), import('./adapters/sns-push.ts')])
            const client = new SNSClient({
              region: config().region,
              maxAttempts: 2,
              requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 },
            })
            return createSnsPush(client, { ...(ios ? { ios } : {}), ...(android ? { android } : {}) })
          }, ['registerEndpoint', 'publish', 'deleteEndpoint'])
        : null
  }
  return notifier ? { notifier, devices: createDeviceStore(db()) } : undefined
}
