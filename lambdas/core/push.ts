import { describeAttachment } from './attachments.ts'
import { ChatError } from './errors.ts'
import type { Device, Identity, Platform, StoredMessage } from './model.ts'
import type { DeviceStore, Log as LogPort, PushNotification, PushNotifier, PushTarget } from './ports.ts'

/**
 * Push notifications for recipients who are offline, and the devices they arrive on. The send
 * statement decides whether to push (no live connection, not muted, enabled devices) and returns
 * what a notification needs; this module renders it and publishes to each device.
 */

export interface PushPorts {
  notifier: PushNotifier
  devices: DeviceStore
}

type Log = Pick<LogPort, 'warn'>

/**
 * The notifier when no platform application is configured: offline recipients are simply not
 * notified. Only sendMessage uses it; the device routes answer `unavailable` instead.
 */
export const NO_PUSH: PushNotifier = {
  registerEndpoint: async () => {
    throw new ChatError('unavailable', 'Push notifications are not configured')
  },
  publish: async () => 'sent',
  deleteEndpoint: async () => {},
}

/**
 * What the notification says. The body is the message's preview (already cut to a few words by
 * the caller) or, for a bare attachment, "sent a photo"/"sent a file": the rest of the text never
 * reaches the push provider.
 */
export function notificationFor(message: StoredMessage, target: PushTarget, bodyPreview: string): PushNotification {
  return {
    title: target.senderName,
    body: bodyPreview || describeAttachment(message.attachment) || 'sent a message',
    conversationId: message.conversationId,
    messageId: message.id,
    badge: target.unreadCount,
  }
}

/**
 * One publish per enabled endpoint, in parallel. Endpoints the provider reports disabled or gone
 * are marked disabled; any other failure is logged with the message id. Never throws: the message
 * is already stored and delivered. Returns how many publishes failed.
 */
export async function notifyOffline(
  ports: PushPorts,
  message: StoredMessage,
  target: PushTarget,
  bodyPreview: string,
  log?: Log,
): Promise<number> {
  let failures = 0
  try {
    const notification = notificationFor(message, target, bodyPreview)
    const results = await Promise.allSettled(target.endpoints.map((endpoint) => ports.notifier.publish(endpoint, notification)))
    const disabled: string[] = []
    results.forEach((result, index) => {
      const endpointArn = target.endpoints[index]?.endpointArn
      if (result.status === 'fulfilled') {
        if (result.value === 'endpoint_disabled' && endpointArn) disabled.push(endpointArn)
      } else {
        failures++
        log?.warn('push notification failed', { messageId: message.id, endpointArn, ...errorFields(result.reason) })
      }
    })
    if (disabled.length > 0) await ports.devices.disable(disabled)
  } catch (error) {
    failures = Math.max(failures, 1)
    log?.warn('push notification failed', { messageId: message.id, ...errorFields(error) })
  }
  return failures
}

/**
 * POST /devices: the provider endpoint first (created or reused, and re-enabled), then the
 * device row, which moves a token that belonged to someone else to the caller.
 */
export async function registerDevice(
  ports: PushPorts | undefined,
  identity: Identity,
  device: { platform: Platform; token: string },
  log?: Log,
): Promise<Device> {
  if (!ports) throw new ChatError('unavailable', 'Push notifications are not configured')
  let endpointArn: string
  try {
    endpointArn = await ports.notifier.registerEndpoint(device.platform, device.token)
  } catch (error) {
    if (error instanceof ChatError) throw error
    throw new ChatError('unavailable', 'The push service is unavailable; please retry', undefined, { cause: error })
  }
  const stored = await ports.devices.register(identity, { ...device, endpointArn })
  if (!stored) throw new ChatError('forbidden', 'This account is disabled')
  if (stored.moved) {
    // A shared phone changed hands: recorded (both user ids, never the token), and an endpoint of
    // the previous owner that is not the one now in use is deleted, so nothing reaches them through it.
    log?.warn('push device moved to another user', {
      audit: 'device.moved',
      fromUserId: stored.moved.fromUserId,
      toUserId: stored.userId,
      platform: device.platform,
    })
    if (stored.moved.endpointArn !== endpointArn) {
      try {
        await ports.notifier.deleteEndpoint(stored.moved.endpointArn)
      } catch (error) {
        log?.warn('could not delete a push endpoint', { endpointArn: stored.moved.endpointArn, ...errorFields(error) })
      }
    }
  }
  return stored.device
}

/** DELETE /devices/{token}: forgets the device, then deletes its provider endpoint (best effort). */
export async function removeDevice(ports: PushPorts | undefined, identity: Identity, token: string, log?: Log): Promise<void> {
  if (!ports) throw new ChatError('unavailable', 'Push notifications are not configured')
  const endpointArn = await ports.devices.remove(identity, token)
  if (endpointArn === null) throw new ChatError('not_found', 'No such device')
  try {
    await ports.notifier.deleteEndpoint(endpointArn)
  } catch (error) {
    log?.warn('could not delete a push endpoint', { endpointArn, ...errorFields(error) })
  }
}

function errorFields(error: unknown): Record<string, unknown> {
  return error instanceof Error ? { errorName: error.name, errorMessage: error.message } : { errorName: typeof error }
}
