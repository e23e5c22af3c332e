import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'

/**
 * AWS Signature Version 4 for the handlers' AWS calls, without the AWS SDK's clients: the SDK's
 * clients and default credential chain bring @smithy/core and the SSO/STS clients (~250 KB
 * minified, or ~500 KB with S3) into every bundle; a Lambda has its role's credentials in its
 * environment and needs neither. PostToConnection (websocket-delivery.ts, once per recipient, so a
 * synchronous signer) and the RDS IAM auth token (postgres.ts) are signed by hand here, checked
 * against the SDK's signer in test/unit/management-api.test.ts; S3 and SNS (s3-storage.ts,
 * sns-push.ts) by the SDK's signer alone (`sdkSigner`).
 */

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string | undefined
}

/** The credentials Lambda puts in the function's environment (its execution role's). */
export function environmentCredentials(): AwsCredentials {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = process.env
  if (!accessKeyId || !secretAccessKey) throw new Error('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)')
  return { accessKeyId, secretAccessKey, sessionToken }
}

/** RFC 3986 percent-encoding, as SigV4 wants it. */
export function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/**
 * The SDK's own SigV4 signer (@smithy/signature-v4: about 15 KB minified, none of the SDK's client
 * stack or credential chain) for S3 and SNS, where the presigning and path rules are S3's own and
 * worth not restating. It hashes with node:crypto and takes the fixed credentials (local) or the
 * ones Lambda puts in the environment, read at every signature (they are the role's, and rotate).
 */
export function sdkSigner(options: { service: string; region: string; credentials?: AwsCredentials | undefined; uriEscapePath: boolean }): SignatureV4 {
  const { service, region, credentials, uriEscapePath } = options
  return new SignatureV4({ service, region, uriEscapePath, sha256: NodeSha256, credentials: async () => credentials ?? environmentCredentials() })
}

type SourceData = string | ArrayBuffer | ArrayBufferView

/** The signer's hash: SHA-256, or HMAC-SHA256 when given a key. */
class NodeSha256 {
  private hash: Hash | Hmac
  constructor(private readonly secret?: SourceData) {
    this.hash = this.create()
  }
  update(data: Uint8Array): void {
    this.hash.update(data)
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()))
  }
  reset(): void {
    this.hash = this.create()
  }
  private create(): Hash | Hmac {
    if (this.secret === undefined) return createHash('sha256')
    const key = typeof this.secret === 'string' ? this.secret : this.secret instanceof ArrayBuffer ? Buffer.from(this.secret) : Buffer.from(this.secret.buffer, this.secret.byteOffset, this.secret.byteLength)
    return createHmac('sha256', key)
  }
}

/**
 * AWS Signature Version 4 for one service and region, headers only (no query, no presigning).
 * The canonical path is the request path encoded once more, segment by segment, as every service
 * but S3 expects. The signing key is derived once per day and secret.
 */
export function createSigner(service: string, region: string) {
  let cached: { scopeDate: string; secret: string; key: Buffer } | undefined
  const signingKey = (secret: string, scopeDate: string) => {
    if (cached?.scopeDate !== scopeDate || cached.secret !== secret) {
      const date = hmac(`AWS4${secret}`, scopeDate)
      const key = hmac(hmac(hmac(date, region), service), 'aws4_request')
      cached = { scopeDate, secret, key }
    }
    return cached.key
  }
  return {
    /** Adds x-amz-date, x-amz-security-token (with a session token) and authorization to `headers` (lower-case names). */
    sign(method: string, path: string, headers: Record<string, string>, body: Uint8Array, credentials: AwsCredentials, now: Date): void {
      const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
      const scopeDate = amzDate.slice(0, 8)
      headers['x-amz-date'] = amzDate
      if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken
      const names = Object.keys(headers).map((name) => name.toLowerCase()).sort()
      const lower = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]))
      const canonicalHeaders = names.map((name) => `${name}:${String(lower[name]).trim().replace(/\s+/g, ' ')}\n`).join('')
      const signedHeaders = names.join(';')
      const canonicalPath = path.split('/').map(escapeUri).join('/')
      const canonicalRequest = [method, canonicalPath, '', canonicalHeaders, signedHeaders, sha256Hex(body)].join('\n')
      const scope = `${scopeDate}/${region}/${service}/aws4_request`
      const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
      const signature = createHmac('sha256', signingKey(credentials.secretAccessKey, scopeDate)).update(stringToSign).digest('hex')
      headers['authorization'] = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`
    },
  }
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * An RDS IAM auth token: a SigV4-presigned `GET https://{host}:{port}/?Action=connect&DBUser={user}`
 * for service rds-db, valid 15 minutes, without its scheme, as @aws-sdk/rds-signer makes it.
 */
export function rdsAuthToken(options: { hostname: string; port: number; username: string; region: string; credentials: AwsCredentials; now: Date }): string {
  const { hostname, port, username, region, credentials, now } = options
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const scopeDate = amzDate.slice(0, 8)
  const scope = `${scopeDate}/${region}/rds-db/aws4_request`
  const query: Record<string, string> = {
    Action: 'connect',
    DBUser: username,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${credentials.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': '900',
    ...(credentials.sessionToken ? { 'X-Amz-Security-Token': credentials.sessionToken } : {}),
    'X-Amz-SignedHeaders': 'host',
  }
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((key) => `${escapeUri(key)}=${escapeUri(query[key] as string)}`)
    .join('&')
  const host = `${hostname}:${port}`
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}\n`, 'host', sha256Hex('')].join('\n')
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, scopeDate), region), 'rds-db'), 'aws4_request')
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex')
  // The query in key order, the signature among them, as the SDK's formatUrl writes it.
  const signed = { ...query, 'X-Amz-Signature': signature }
  const written = Object.keys(signed)
    .sort()
    .map((name) => `${escapeUri(name)}=${escapeUri(signed[name as keyof typeof signed] as string)}`)
    .join('&')
  return `${host}/?${written}`
}
