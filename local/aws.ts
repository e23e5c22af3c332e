import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { CreatePlatformApplicationCommand, SNSClient } from '@aws-sdk/client-sns'
import { startAwsEdge, type AwsEdge } from '@trainer-chat/aws-edge'
import { describeListenError } from './startup-errors.ts'

/**
 * The AWS services the handlers call (S3 for attachments, SNS for push), LocalStack style:
 * the local AWS edge on one port with its state under DATA_DIR, or an external endpoint (a
 * real LocalStack) when AWS_ENDPOINT_URL is set. Either way the attachments bucket and the
 * APNs and FCM platform applications are created on start, and `env` says how to point the
 * handlers at them.
 */

export interface LocalAwsOptions {
  dataDir: string
  host: string
  /** 0 picks a free port (tests). */
  port: number
  /** An external endpoint to use instead of starting the edge. */
  externalUrl?: string | undefined
  region: string
  bucket: string
}

export interface LocalAws {
  url: string
  /** The edge when it runs in this process (its fault injection is for tests); undefined with an external endpoint. */
  edge: AwsEdge | undefined
  /** Variables for the handlers' configuration. */
  env: Record<string, string>
  stop(): Promise<void>
}

export const LOCAL_APPLICATIONS = { APNS: 'trainer-chat-local-ios', GCM: 'trainer-chat-local-android' } as const

export async function startLocalAws(options: LocalAwsOptions): Promise<LocalAws> {
  const edge = options.externalUrl
    ? undefined
    : await startAwsEdge({
        port: options.port,
        host: options.host,
        dataDir: join(options.dataDir, 'aws'),
        region: options.region,
        // Whatever credentials the handlers will sign with (the stack defaults them to test/test).
        ...localCredentials(),
      }).catch((error: NodeJS.ErrnoException) => {
        throw describeListenError(error, options.port, options.host, 'AWS_PORT')
      })
  const url = options.externalUrl ?? (edge as AwsEdge).url
  try {
    const applications = await provision(url, options)
    return {
      url,
      edge,
      env: {
        // Service-specific variables, so AWS_ENDPOINT_URL keeps meaning "an external endpoint was chosen".
        AWS_ENDPOINT_URL_S3: url,
        AWS_ENDPOINT_URL_SNS: url,
        S3_FORCE_PATH_STYLE: 'true',
        ATTACHMENTS_BUCKET: options.bucket,
        PUSH_APNS_PLATFORM_APPLICATION_ARN: applications.APNS,
        PUSH_GCM_PLATFORM_APPLICATION_ARN: applications.GCM,
      },
      stop: async () => {
        await edge?.stop()
      },
    }
  } catch (error) {
    await edge?.stop()
    throw error
  }
}

/** Creates the bucket and the platform applications; both calls are idempotent. */
async function provision(url: string, options: LocalAwsOptions): Promise<Record<keyof typeof LOCAL_APPLICATIONS, string>> {
  const clientConfig = {
    endpoint: url,
    region: options.region,
    credentials: localCredentials(),
  }
  const s3 = new S3Client({ ...clientConfig, forcePathStyle: true })
  const sns = new SNSClient(clientConfig)
  try {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: options.bucket }))
    } catch (error) {
      if (!(error instanceof Error && (error.name === 'BucketAlreadyOwnedByYou' || error.name === 'BucketAlreadyExists'))) throw error
    }
    const create = async (platform: keyof typeof LOCAL_APPLICATIONS) => {
      const created = await sns.send(
        new CreatePlatformApplicationCommand({
          Name: LOCAL_APPLICATIONS[platform],
          Platform: platform,
          // Local stand-ins: nothing is ever sent to Apple or Google from here.
          Attributes: platform === 'APNS' ? { PlatformCredential: 'local-key', PlatformPrincipal: 'local-cert' } : { PlatformCredential: 'local-key' },
        }),
      )
      if (!created.PlatformApplicationArn) throw new Error(`CreatePlatformApplication returned no ARN for ${platform}`)
      return created.PlatformApplicationArn
    }
    return { APNS: await create('APNS'), GCM: await create('GCM') }
  } finally {
    s3.destroy()
    sns.destroy()
  }
}

function localCredentials(): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' }
}
