import {
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  GetEndpointAttributesCommand,
  PublishCommand,
  SetEndpointAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns'
import { ChatError } from '../core/errors.ts'
import type { Platform } from '../core/model.ts'
import type { PushEndpoint, PushNotification, PushNotifier } from '../core/ports.ts'

/** Platform application ARNs by app platform; a missing one means that platform gets no push. */
export type PlatformApplications = Partial<Record<Platform, string>>

/**
 * SNS mobile push. Endpoints follow AWS's recommended registration: CreatePlatformEndpoint (which
 * returns the existing endpoint for a known token), then make sure it is enabled and carries the
 * current token. Each notification is one Publish with MessageStructure=json carrying an APNs
 * payload (APNS and APNS_SANDBOX, whichever the application is) and an FCM HTTP v1 payload (GCM).
 */
export function createSnsPush(client: SNSClient, applications: PlatformApplications): PushNotifier {
  return {
    async registerEndpoint(platform, token) {
      const applicationArn = applications[platform]
      if (!applicationArn) throw new ChatError('unavailable', `Push notifications are not configured for ${platform}`)
      const endpointArn = await createOrReuseEndpoint(client, applicationArn, token)
      const { Attributes: attributes } = await client.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn }))
      if (attributes?.['Enabled'] !== 'true' || attributes['Token'] !== token) {
        await client.send(new SetEndpointAttributesCommand({ EndpointArn: endpointArn, Attributes: { Token: token, Enabled: 'true' } }))
      }
      return endpointArn
    },

    async publish(endpoint: PushEndpoint, notification: PushNotification) {
      try {
        await client.send(
          new PublishCommand({ TargetArn: endpoint.endpointArn, MessageStructure: 'json', Message: pushMessage(notification) }),
        )
        return 'sent'
      } catch (error) {
        if (isEndpointGone(error)) return 'endpoint_disabled'
        throw error
      }
    },

    async deleteEndpoint(endpointArn) {
      await client.send(new DeleteEndpointCommand({ EndpointArn: endpointArn }))
    },
  }
}

/**
 * SNS answers an existing token with its endpoint, unless that endpoint's attributes differ
 * (it was created with other CustomUserData): then the error names it, and we take it over.
 */
async function createOrReuseEndpoint(client: SNSClient, applicationArn: string, token: string): Promise<string> {
  try {
    const created = await client.send(new CreatePlatformEndpointCommand({ PlatformApplicationArn: applicationArn, Token: token }))
    if (!created.EndpointArn) throw new Error('CreatePlatformEndpoint returned no EndpointArn')
    return created.EndpointArn
  } catch (error) {
    const existing = error instanceof Error ? /Endpoint (arn:aws[\w-]*:sns:\S+) already exists/.exec(error.message)?.[1] : undefined
    if (existing) return existing
    throw error
  }
}

/** The Publish message: one entry per platform, each a JSON string, plus the `default` SNS requires for others. */
export function pushMessage(notification: PushNotification): string {
  const { title, body, conversationId, messageId, badge } = notification
  const apns = JSON.stringify({
    aps: { alert: { title, body }, badge, sound: 'default', 'thread-id': conversationId },
    conversationId,
    messageId,
  })
  const gcm = JSON.stringify({
    fcmV1Message: {
      message: {
        notification: { title, body },
        // FCM data values must be strings.
        data: { conversationId, messageId, badge: String(badge) },
        android: { priority: 'high', notification: { tag: conversationId, notification_count: badge } },
      },
    },
  })
  return JSON.stringify({ default: `${title}: ${body}`, APNS: apns, APNS_SANDBOX: apns, GCM: gcm })
}

function isEndpointGone(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name
  return name === 'EndpointDisabledException' || name === 'NotFoundException'
}
