import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createFaultInjector } from './faults.ts'
import { createLocalstackApi } from './localstack-api.ts'
import { createS3Handler } from './s3.ts'
import { openObjectStore } from './s3-store.ts'
import { createEdgeServer } from './server.ts'
import { createSnsHandler } from './sns.ts'
import { openPlatformRegistry, type PublishedNotification } from './sns-platform.ts'
import type { Credentials, VerifierConfig } from './sigv4.ts'

/**
 * A LocalStack-style AWS edge for the local stack: S3 (path-style) and SNS mobile push on
 * one port, verifying SigV4 the way AWS does, so upload-safety tests mean something.
 *
 * A presigned upload binds only what its URL signs. To bind type and size, give
 * PutObjectCommand a ContentType and a ContentLength and pass getSignedUrl
 * `signableHeaders: new Set(['content-type'])` (the presigner leaves content-type unsigned
 * otherwise; content-length is signed whenever ContentLength is set), from an S3Client built
 * with `requestChecksumCalculation: 'WHEN_REQUIRED'` (otherwise the URL carries the CRC32 of an
 * empty body and every real upload fails BadDigest, here as on S3). The uploader must then send
 * exactly that Content-Type and Content-Length; anything else fails SignatureDoesNotMatch (403),
 * and node reads no more than Content-Length bytes, so the body cannot outgrow the signature.
 */

export type { PublishedNotification } from './sns-platform.ts'
export type { MessageAttributeValue } from './sns-protocol.ts'

export interface AwsEdgeOptions {
  /** 0 = ephemeral; default 4566 like LocalStack. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Objects persist under `${dataDir}/s3`, SNS applications and endpoints in `${dataDir}/sns`. */
  dataDir: string
  /** Default us-east-1. */
  region?: string
  /** The only credentials accepted; default 'test'/'test' like LocalStack. */
  accessKeyId?: string
  secretAccessKey?: string
}

export interface AwsEdge {
  url: string
  port: number
  stop(): Promise<void>
  sns: {
    /** Every notification published to a platform endpoint, oldest first. */
    published(): PublishedNotification[]
    /** The next `count` SNS calls answer `code` (default InternalError, 500). */
    failNext(count: number, code?: string): void
    /** What APNs/FCM feedback does in AWS: flips an endpoint's Enabled attribute. */
    setEndpointEnabled(arn: string, enabled: boolean): void
  }
  s3: {
    /** The next `count` S3 calls answer `code` (default SlowDown, 503; any other code answers 500). */
    failNext(count: number, code?: string): void
  }
}

// Bodies are held in memory while their digests and signatures are checked.
const MAX_OBJECT_BYTES = 256 * 1024 * 1024

export async function startAwsEdge(options: AwsEdgeOptions): Promise<AwsEdge> {
  const region = options.region ?? 'us-east-1'
  const host = options.host ?? '127.0.0.1'
  const credentials: Credentials[] = [
    { accessKeyId: options.accessKeyId ?? 'test', secretAccessKey: options.secretAccessKey ?? 'test' },
  ]
  const verifier = (service: VerifierConfig['service']): VerifierConfig => ({ service, region, credentials, now: Date.now })

  const store = await openObjectStore(join(options.dataDir, 's3'))
  const registry = openPlatformRegistry(region, join(options.dataDir, 'sns', 'platform.json'))
  const s3Faults = createFaultInjector('SlowDown')
  const snsFaults = createFaultInjector('InternalError')

  const server = createEdgeServer({
    internal: createLocalstackApi(registry, region),
    sns: createSnsHandler({ registry, verifier: verifier('sns'), faults: snsFaults }),
    s3: createS3Handler({ store, verifier: verifier('s3'), faults: s3Faults, maxObjectBytes: MAX_OBJECT_BYTES }),
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 4566, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host

  return {
    url: `http://${urlHost}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        // SDK clients keep connections alive; without this, close() waits for them to time out.
        server.closeAllConnections()
      }),
    sns: {
      published: () => registry.notifications(),
      failNext: (count, code) => snsFaults.failNext(count, code),
      setEndpointEnabled: (arn, enabled) => registry.setEndpointEnabled(arn, enabled),
    },
    s3: {
      failNext: (count, code) => s3Faults.failNext(count, code),
    },
  }
}

// For the local WebSocket gateway: the same body, URL and SigV4 rules on its Management API.
export { BodyTooLargeError, headerMap, MalformedUrlError, parseUrl, readBody } from './http.ts'
export { verifySignature, type Credentials } from './sigv4.ts'
export { invoke, webSocketRequestContext, type LambdaHandler, type WebSocketEventSource } from './lambda.ts'
