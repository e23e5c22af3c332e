import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { snsErrors } from './sns-errors.ts'
import type { MessageAttributeValue } from './sns-protocol.ts'

/**
 * SNS mobile push state: platform applications, their endpoints, and every notification
 * published to an endpoint (kept for tests instead of being sent to APNs/FCM).
 * Applications and endpoints are saved to a JSON file so the app's stored endpoint ARNs
 * survive a restart of the local stack; recorded notifications are not.
 */

export interface PlatformApplication {
  arn: string
  name: string
  platform: string
  attributes: Record<string, string>
}

export interface PlatformEndpoint {
  arn: string
  applicationArn: string
  token: string
  customUserData: string
  enabled: boolean
}

/** One notification as LocalStack serves it at /_aws/sns/platform-endpoint-messages. */
export interface PublishedNotification {
  TargetArn: string
  Message: string
  MessageStructure: string | null
  MessageAttributes?: Record<string, MessageAttributeValue>
  Subject?: string
  MessageId: string
}

export interface PublishRequest {
  targetArn: string
  message: string
  messageStructure?: string
  subject?: string
  messageAttributes?: Record<string, MessageAttributeValue>
}

interface SavedState {
  applications: PlatformApplication[]
  endpoints: PlatformEndpoint[]
}

const PLATFORMS = new Set(['ADM', 'APNS', 'APNS_SANDBOX', 'BAIDU', 'GCM', 'MPNS', 'WNS'])
const ENDPOINT_ATTRIBUTES = new Set(['CustomUserData', 'Enabled', 'Token'])
// Credentials are write-only in SNS: GetPlatformApplicationAttributes never returns them.
const SECRET_APPLICATION_ATTRIBUTES = new Set(['PlatformCredential', 'PlatformPrincipal'])
const MAX_MESSAGE_BYTES = 256 * 1024
const ACCOUNT_ID = '000000000000'

export interface PlatformRegistry {
  createApplication(name: string | undefined, platform: string | undefined, attributes: Record<string, string>): PlatformApplication
  listApplications(): PlatformApplication[]
  applicationAttributes(arn: string | undefined): Record<string, string>
  deleteApplication(arn: string | undefined): void
  /**
   * Idempotent like SNS: the same token with the same attributes returns the existing endpoint;
   * the same token with a different CustomUserData (or a differing attribute the caller set)
   * is refused, and the message names the existing ARN as SNS's does.
   */
  createEndpoint(
    applicationArn: string | undefined,
    token: string | undefined,
    customUserData: string | undefined,
    attributes: Record<string, string>,
  ): PlatformEndpoint
  endpointAttributes(arn: string | undefined): Record<string, string>
  setEndpointAttributes(arn: string | undefined, attributes: Record<string, string>): void
  setEndpointEnabled(arn: string, enabled: boolean): void
  /** Deleting an endpoint that does not exist succeeds, as in SNS. */
  deleteEndpoint(arn: string | undefined): void
  publish(request: PublishRequest): string
  notifications(endpointArn?: string): PublishedNotification[]
  clearNotifications(endpointArn?: string): void
}

export function openPlatformRegistry(region: string, stateFile: string): PlatformRegistry {
  const saved = readSavedState(stateFile)
  const applications = new Map<string, PlatformApplication>(saved.applications.map((application) => [application.arn, application]))
  const endpoints = new Map<string, PlatformEndpoint>(saved.endpoints.map((endpoint) => [endpoint.arn, endpoint]))
  const published: PublishedNotification[] = []

  function requireApplication(arn: string | undefined): PlatformApplication {
    const application = arn === undefined ? undefined : applications.get(arn)
    if (application === undefined) throw snsErrors.notFound('PlatformApplication does not exist')
    return application
  }

  function requireEndpoint(arn: string | undefined): PlatformEndpoint {
    const endpoint = arn === undefined ? undefined : endpoints.get(arn)
    if (endpoint === undefined) throw snsErrors.notFound('Endpoint does not exist')
    return endpoint
  }

  function save(): void {
    const state: SavedState = { applications: [...applications.values()], endpoints: [...endpoints.values()] }
    mkdirSync(dirname(stateFile), { recursive: true })
    const temporary = `${stateFile}.${randomUUID()}.tmp`
    writeFileSync(temporary, JSON.stringify(state, null, 2))
    renameSync(temporary, stateFile)
  }

  return {
    createApplication(name: string | undefined, platform: string | undefined, attributes: Record<string, string>): PlatformApplication {
      if (name === undefined || !/^[A-Za-z0-9_.-]{1,256}$/.test(name)) {
        throw snsErrors.invalidParameter('Name Reason: must be at most 256 characters long and may only contain uppercase and lowercase ASCII letters, numbers, underscores, hyphens, and periods')
      }
      if (platform === undefined || !PLATFORMS.has(platform)) {
        throw snsErrors.invalidParameter(`Platform Reason: ${platform ?? 'null'} is not supported`)
      }
      const arn = `arn:aws:sns:${region}:${ACCOUNT_ID}:app/${platform}/${name}`
      const existing = applications.get(arn)
      const application = { arn, name, platform, attributes: { ...existing?.attributes, ...attributes } }
      applications.set(arn, application)
      save()
      return application
    },

    listApplications(): PlatformApplication[] {
      return [...applications.values()]
    },

    applicationAttributes(arn: string | undefined): Record<string, string> {
      const application = requireApplication(arn)
      const visible: Record<string, string> = { Enabled: 'true' }
      for (const [name, value] of Object.entries(application.attributes)) {
        if (!SECRET_APPLICATION_ATTRIBUTES.has(name)) visible[name] = value
      }
      return visible
    },

    deleteApplication(arn: string | undefined): void {
      if (arn === undefined) return
      applications.delete(arn)
      for (const endpoint of endpoints.values()) {
        if (endpoint.applicationArn === arn) endpoints.delete(endpoint.arn)
      }
      save()
    },

    createEndpoint(
      applicationArn: string | undefined,
      token: string | undefined,
      customUserData: string | undefined,
      attributes: Record<string, string>,
    ): PlatformEndpoint {
      const application = requireApplication(applicationArn)
      if (token === undefined || token === '') throw snsErrors.invalidParameter('Token Reason: cannot be empty')
      checkEndpointAttributes(attributes)
      const wantedUserData = customUserData ?? attributes['CustomUserData'] ?? ''
      const existing = [...endpoints.values()].find((endpoint) => endpoint.applicationArn === application.arn && endpoint.token === token)
      if (existing !== undefined) {
        const sameEnabled = attributes['Enabled'] === undefined || attributes['Enabled'] === String(existing.enabled)
        if (existing.customUserData === wantedUserData && sameEnabled) return existing
        throw snsErrors.invalidParameter(`Token Reason: Endpoint ${existing.arn} already exists with the same Token, but different attributes.`)
      }
      const endpoint: PlatformEndpoint = {
        arn: `arn:aws:sns:${region}:${ACCOUNT_ID}:endpoint/${application.platform}/${application.name}/${randomUUID()}`,
        applicationArn: application.arn,
        token,
        customUserData: wantedUserData,
        enabled: attributes['Enabled'] !== 'false',
      }
      endpoints.set(endpoint.arn, endpoint)
      save()
      return endpoint
    },

    endpointAttributes(arn: string | undefined): Record<string, string> {
      const endpoint = requireEndpoint(arn)
      const attributes: Record<string, string> = { Enabled: String(endpoint.enabled), Token: endpoint.token }
      if (endpoint.customUserData !== '') attributes['CustomUserData'] = endpoint.customUserData
      return attributes
    },

    setEndpointAttributes(arn: string | undefined, attributes: Record<string, string>): void {
      const endpoint = requireEndpoint(arn)
      checkEndpointAttributes(attributes)
      const { CustomUserData: customUserData, Enabled: enabled, Token: token } = attributes
      if (token === '') throw snsErrors.invalidParameter('Token Reason: cannot be empty')
      if (customUserData !== undefined) endpoint.customUserData = customUserData
      if (enabled !== undefined) endpoint.enabled = enabled === 'true'
      if (token !== undefined) endpoint.token = token
      save()
    },

    setEndpointEnabled(arn: string, enabled: boolean): void {
      requireEndpoint(arn).enabled = enabled
      save()
    },

    deleteEndpoint(arn: string | undefined): void {
      if (arn !== undefined && endpoints.delete(arn)) save()
    },

    publish(request: PublishRequest): string {
      const endpoint = requireEndpoint(request.targetArn)
      if (request.message === '') throw snsErrors.invalidParameter('Empty message')
      if (Buffer.byteLength(request.message) > MAX_MESSAGE_BYTES) throw snsErrors.invalidParameter('Message too long')
      if (request.messageStructure !== undefined) {
        const platform = applications.get(endpoint.applicationArn)?.platform ?? ''
        checkJsonStructure(request.messageStructure, request.message, platform)
      }
      if (request.messageAttributes !== undefined) checkMessageAttributes(request.messageAttributes)
      if (!endpoint.enabled) throw snsErrors.endpointDisabled()

      const messageId = randomUUID()
      const notification: PublishedNotification = {
        TargetArn: endpoint.arn,
        Message: request.message,
        MessageStructure: request.messageStructure ?? null,
        MessageId: messageId,
      }
      if (request.messageAttributes !== undefined) notification.MessageAttributes = request.messageAttributes
      if (request.subject !== undefined) notification.Subject = request.subject
      published.push(notification)
      return messageId
    },

    notifications(endpointArn?: string): PublishedNotification[] {
      return published.filter((notification) => endpointArn === undefined || notification.TargetArn === endpointArn)
    },

    clearNotifications(endpointArn?: string): void {
      const kept = published.filter((notification) => endpointArn !== undefined && notification.TargetArn !== endpointArn)
      published.splice(0, published.length, ...kept)
    },
  }
}

function readSavedState(file: string): SavedState {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SavedState
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return { applications: [], endpoints: [] }
    throw error
  }
}

function checkEndpointAttributes(attributes: Record<string, string>): void {
  for (const [name, value] of Object.entries(attributes)) {
    if (!ENDPOINT_ATTRIBUTES.has(name)) throw snsErrors.invalidParameter(`Attributes Reason: Invalid attribute name: ${name}`)
    if (name === 'Enabled' && value !== 'true' && value !== 'false') {
      throw snsErrors.invalidParameter('Attributes Reason: Enabled must be true or false')
    }
  }
}

/**
 * MessageStructure=json: the message must be a JSON object of strings, with a `default`
 * entry or one for the endpoint's platform, or SNS has nothing to deliver.
 */
function checkJsonStructure(structure: string, message: string, platform: string): void {
  if (structure !== 'json') throw snsErrors.invalidParameter(`MessageStructure Reason: ${structure} is not a valid value`)
  let parsed: unknown
  try {
    parsed = JSON.parse(message)
  } catch {
    throw snsErrors.invalidParameter('Message Structure - JSON message body failed to parse')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw snsErrors.invalidParameter('Message Structure - JSON message body failed to parse')
  }
  const entries = Object.entries(parsed)
  if (entries.some(([, value]) => typeof value !== 'string')) {
    throw snsErrors.invalidParameter('Message Structure - JSON message body failed to parse')
  }
  if (!entries.some(([key]) => key === 'default' || key === platform)) {
    throw snsErrors.invalidParameter('Message Structure - No default entry in JSON message body')
  }
}

function checkMessageAttributes(attributes: Record<string, MessageAttributeValue>): void {
  for (const [name, attribute] of Object.entries(attributes)) {
    if (!/^(String|Number|Binary)(\..+)?$/.test(attribute.DataType)) {
      throw snsErrors.invalidParameterValue(
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      )
    }
    const value = attribute.DataType.startsWith('Binary') ? attribute.BinaryValue : attribute.StringValue
    if (value === undefined || value === '') {
      throw snsErrors.invalidParameterValue(`The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${attribute.DataType}'.`)
    }
  }
}
