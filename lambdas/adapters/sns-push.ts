import { ChatError } from '../core/errors.ts'
import type { Platform } from '../core/model.ts'
import type { PushEndpoint, PushNotification, PushNotifier } from '../core/ports.ts'
import { AwsError, createAwsHttp, unescapeXml } from './aws-http.ts'
import { escapeUri, sdkSigner, type AwsCredentials } from './sigv4.ts'

/** Platform application ARNs by app platform; a missing one means that platform gets no push. */
export type PlatformApplications = Partial<Record<Platform, string>>

export interface SnsSettings {
  region: string
  /** A local SNS (the AWS edge); otherwise the region's SNS endpoint. */
  endpoint?: string | undefined
  /** Fixed credentials (local); otherwise the ones Lambda puts in the environment. */
  credentials?: AwsCredentials | undefined
  maxAttempts: number
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
  retryBaseMs?: number
}

/** One SNS action over the query protocol: its result element's XML, or an `AwsError` named by SNS's error code. */
export type SnsCall = (action: string, params: Record<string, string>) => Promise<string>

/**
 * SNS over its query protocol (what @aws-sdk/client-sns speaks): a signed, form-encoded POST of
 * `Action=…&Version=2010-03-31&…` to `/`, answered in XML, an error as
 * `<ErrorResponse><Error><Code>EndpointDisabled</Code><Message>…`. Signed by the SDK's own signer,
 * sent by aws-http.ts (retries and timeouts as the SDK client had them), without the SDK's client.
 */
export function createSnsCall(settings: SnsSettings): SnsCall {
  const suffix = settings.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'
  const endpoint = new URL(settings.endpoint ?? `https://sns.${settings.region}.${suffix}`)
  const origin = new URL(endpoint.origin)
  const path = endpoint.pathname
  const { maxAttempts, connectionTimeoutMs, requestTimeoutMs, retryBaseMs } = settings
  const signer = sdkSigner({ service: 'sns', region: settings.region, credentials: settings.credentials, uriEscapePath: true })
  const http = createAwsHttp({ signer, maxAttempts, connectionTimeoutMs, requestTimeoutMs, retryBaseMs })
  return async (action, params) => {
    const body = Object.entries({ Action: action, Version: '2010-03-31', ...params })
      .map(([name, value]) => `${escapeUri(name)}=${escapeUri(value)}`)
      .join('&')
    const reply = await http.send({
      method: 'POST',
      origin,
      path,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
    const text = reply.body.toString('utf8')
    if (reply.status >= 200 && reply.status < 300) return element(text, `${action}Result`) ?? ''
    const code = element(text, 'Code') ?? `Http${reply.status}Error`
    throw new AwsError(unescapeXml(code), unescapeXml(element(text, 'Message') ?? text), reply.status)
  }
}

/**
 * SNS mobile push. Endpoints follow AWS's recommended registration: CreatePlatformEndpoint (which
 * returns the existing endpoint for a known token), then make sure it is enabled and carries the
 * current token. Each notification is one Publish with MessageStructure=json carrying an APNs
 * payload (APNS and APNS_SANDBOX, whichever the application is) and an FCM HTTP v1 payload (GCM).
 */
export function createSnsPush(call: SnsCall, applications: PlatformApplications): PushNotifier {
  return {
    async registerEndpoint(platform, token) {
      const applicationArn = applications[platform]
      if (!applicationArn) throw new ChatError('unavailable', `Push notifications are not configured for ${platform}`)
      const endpointArn = await createOrReuseEndpoint(call, applicationArn, token)
      const attributes = entries(await call('GetEndpointAttributes', { EndpointArn: endpointArn }))
      if (attributes['Enabled'] !== 'true' || attributes['Token'] !== token) {
        await call('SetEndpointAttributes', {
          EndpointArn: endpointArn,
          'Attributes.entry.1.key': 'Token',
          'Attributes.entry.1.value': token,
          'Attributes.entry.2.key': 'Enabled',
          'Attributes.entry.2.value': 'true',
        })
      }
      return endpointArn
    },

    async publish(endpoint: PushEndpoint, notification: PushNotification) {
      try {
        await call('Publish', { TargetArn: endpoint.endpointArn, MessageStructure: 'json', Message: pushMessage(notification) })
        return 'sent'
      } catch (error) {
        if (isEndpointGone(error)) return 'endpoint_disabled'
        throw error
      }
    },

    async deleteEndpoint(endpointArn) {
      await call('DeleteEndpoint', { EndpointArn: endpointArn })
    },
  }
}

/**
 * SNS answers an existing token with its endpoint, unless that endpoint's attributes differ
 * (it was created with other CustomUserData): then the error names it, and we take it over.
 */
async function createOrReuseEndpoint(call: SnsCall, applicationArn: string, token: string): Promise<string> {
  try {
    const endpointArn = element(await call('CreatePlatformEndpoint', { PlatformApplicationArn: applicationArn, Token: token }), 'EndpointArn')
    if (!endpointArn) throw new Error('CreatePlatformEndpoint returned no EndpointArn')
    return unescapeXml(endpointArn)
  } catch (error) {
    const existing = error instanceof AwsError ? /Endpoint (arn:aws[\w-]*:sns:\S+) already exists/.exec(error.message)?.[1] : undefined
    if (existing) return existing
    throw error
  }
}

/** The raw content of the first `<name>` element (SNS's replies have no attributes on their elements). */
function element(xml: string, name: string): string | undefined {
  const open = xml.indexOf(`<${name}>`)
  if (open === -1) return undefined
  const start = open + name.length + 2
  const end = xml.indexOf(`</${name}>`, start)
  return end === -1 ? undefined : xml.slice(start, end)
}

/** A query-protocol map (`<entry><key>…</key><value>…</value></entry>`…) as an object. */
function entries(xml: string): Record<string, string> {
  const map: Record<string, string> = {}
  for (const [, key = '', value = ''] of xml.matchAll(/<entry>\s*<key>([^<]*)<\/key>\s*<value>([^<]*)<\/value>\s*<\/entry>/g)) {
    map[unescapeXml(key)] = unescapeXml(value)
  }
  return map
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

/** EndpointDisabled: the platform (APNs, FCM) reported the token invalid; NotFound: the endpoint was deleted. */
function isEndpointGone(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name
  return name === 'EndpointDisabled' || name === 'NotFound'
}
