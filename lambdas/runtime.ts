import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi'
import type { Kysely } from 'kysely'
import { createAttachmentStore } from './adapters/attachment-store.ts'
import { createChatStore } from './adapters/chat-store.ts'
import { createDeviceStore } from './adapters/device-store.ts'
import type { Database } from './adapters/database-schema.ts'
import { createTokenVerifier, type TokenVerifier } from './adapters/jwt.ts'
import { log } from './adapters/logger.ts'
import { createPostgresDatabase } from './adapters/postgres.ts'
import { loadOnFirstUse } from './adapters/load-on-first-use.ts'
import { createWebSocketDelivery } from './adapters/websocket-delivery.ts'
import { config } from './config.ts'
import { createThrottle, type Throttle } from './core/throttle.ts'
import type { ChatPorts } from './core/chat.ts'
import type { AttachmentPolicy } from './core/attachments.ts'
import type { AttachmentStorage, Delivery, PushNotifier } from './core/ports.ts'
import type { PushPorts } from './core/push.ts'
import type { UploadPorts } from './core/uploads.ts'
import type { ServerFrame } from './core/protocol.ts'

/**
 * The composition root. Each client is created on first use and then kept for the life of the
 * process (a Lambda container), so warm invocations reuse the database connection, the HTTP
 * agents and the JWKS cache. The local stack and tests swap in their own database with
 * `provideDatabase` before the first invocation.
 */

let database: Kysely<Database> | undefined
let delivery: Delivery<ServerFrame> | undefined
let verifier: TokenVerifier | undefined
let chat: ChatPorts | undefined
let typing: Throttle | undefined
let storage: AttachmentStorage | undefined
/** null: no platform application is configured, so nobody gets pushes. */
let notifier: PushNotifier | null | undefined

export function db(): Kysely<Database> {
  return (database ??= createPostgresDatabase(config().database))
}

export function provideDatabase(instance: Kysely<Database>): void {
  database = instance
  chat = undefined
}

/**
 * S3 through the standard endpoint configuration (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 point
 * it at LocalStack or the local edge). Checksums only where S3 requires them: a presigned PUT
 * must not carry the checksum of an empty body. Built on first use, then kept.
 */
export function attachmentStorage(): AttachmentStorage {
  return (storage ??= loadOnFirstUse(async () => {
    const [{ S3Client }, { createS3Storage }] = await Promise.all([import('@aws-sdk/client-s3'), import('./adapters/s3-storage.ts')])
    const settings = config().attachments
    const client = new S3Client({
      region: config().region,
      forcePathStyle: settings.forcePathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    })
    return createS3Storage(client, {
      bucket: settings.bucket,
      uploadUrlSeconds: settings.uploadUrlSeconds,
      downloadUrlSeconds: settings.downloadUrlSeconds,
    })
  }, ['presignUpload', 'presignDownload', 'head', 'delete']))
}

export function attachmentPolicy(): AttachmentPolicy {
  const { maxBytes, contentTypes, useWithinSeconds } = config().attachments
  return { maxBytes, contentTypes, useWithinSeconds }
}

export function uploadPorts(): UploadPorts {
  return { store: createAttachmentStore(db()), storage: attachmentStorage(), policy: attachmentPolicy(), log }
}

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

/** Drops every cached client so the next use builds them from the current configuration (local stack restarts). */
export function resetRuntime(): void {
  database = undefined
  delivery = undefined
  verifier = undefined
  chat = undefined
  typing = undefined
  storage = undefined
  notifier = undefined
}

export function websocketDelivery(): Delivery<ServerFrame> {
  return (delivery ??= createWebSocketDelivery<ServerFrame>(
    new ApiGatewayManagementApiClient({
      endpoint: config().connectionsEndpoint,
      region: config().region,
      maxAttempts: 3,
    }),
    log,
  ))
}

/** Kept outside `chat` so that swapping the database (provideDatabase) keeps what the container has counted. */
function typingThrottle(): Throttle {
  return (typing ??= createThrottle(config().typingRateLimit))
}

export function tokenVerifier(): TokenVerifier {
  return (verifier ??= createTokenVerifier(config().jwt))
}

export function chatPorts(): ChatPorts {
  return (chat ??= {
    store: createChatStore(db(), {
      sendRateLimit: config().sendRateLimit,
      attachmentUseWithinSeconds: config().attachments.useWithinSeconds,
    }),
    delivery: websocketDelivery(),
    log,
    storage: attachmentStorage(),
    push: pushPorts(),
    typingThrottle: typingThrottle(),
  })
}
