import { createHash, createHmac } from 'node:crypto'

/**
 * AWS Signature Version 4 over node:crypto, for the two AWS calls on the handlers' usual path:
 * PostToConnection (management-api.ts) and the RDS IAM auth token (postgres.ts). The AWS SDK's
 * signer and credential chain bring @smithy/core and the SSO/STS clients (~250 KB minified) into
 * every bundle; a Lambda has its role's credentials in its environment and needs neither.
 * test/unit/management-api.test.ts checks both signatures against the SDK's signer.
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
