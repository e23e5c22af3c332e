import type { AttachmentStorage, StoredObject, UploadTicket } from '../core/ports.ts'
import { AwsError, createAwsHttp, queryString, unescapeXml, type AwsReply } from './aws-http.ts'
import { escapeUri, sdkSigner, type AwsCredentials } from './sigv4.ts'

export interface S3StorageSettings {
  bucket: string
  region: string
  /** A local S3 (the AWS edge); otherwise the region's S3 endpoint. */
  endpoint?: string | undefined
  /** `/{bucket}/{key}` on the endpoint rather than `{bucket}.{endpoint host}/{key}`. */
  forcePathStyle: boolean
  /** Fixed credentials (local); otherwise the ones Lambda puts in the environment. */
  credentials?: AwsCredentials | undefined
  uploadUrlSeconds: number
  downloadUrlSeconds: number
  /** Attempts per HEAD or DELETE (the SDK's standard retry strategy's 3 by default). */
  maxAttempts?: number
  retryBaseMs?: number
  /** The signing time of presigned URLs (tests fix it). */
  now?: () => Date
}

/**
 * Attachments in S3, without the SDK's client (issue 12 item 5): presigning and the two calls
 * (HeadObject, DeleteObject) are signed by the SDK's own signer (`sdkSigner`) and sent by
 * aws-http.ts; test/unit/s3-sns-requests.test.ts checks both URLs byte for byte against the SDK's
 * presigner. Uploads are presigned PUTs that sign the content type, the content length and
 * `If-None-Match: *`, so S3 refuses another type or another size (SignatureDoesNotMatch) and a
 * second upload to the same key (412 PreconditionFailed: the object is write-once); no checksum is
 * asked for, so the URL does not carry that of an empty body. Downloads are presigned GETs that
 * make the browser save the file under its original name. Presigning is an HMAC computed here;
 * only head and delete reach S3. The URLs are the SDK's to the byte, `x-id` included.
 */
export function createS3Storage(settings: S3StorageSettings): AttachmentStorage {
  const signer = sdkSigner({ service: 's3', region: settings.region, credentials: settings.credentials, uriEscapePath: false })
  const http = createAwsHttp({ signer, maxAttempts: settings.maxAttempts ?? 3, retryBaseMs: settings.retryBaseMs })
  const { origin, prefix } = bucketLocation(settings)
  const now = settings.now ?? (() => new Date())
  const objectPath = (key: string) => `${prefix}/${key.split('/').map(escapeUri).join('/')}`

  /** A presigned URL: the payload unsigned, the headers named signed, the rest as the SDK's presigner. */
  const presign = async (method: 'GET' | 'PUT', key: string, query: Record<string, string>, headers: Record<string, string>, expiresIn: number, signingDate: Date) => {
    const request = {
      method,
      protocol: origin.protocol,
      hostname: origin.hostname,
      ...(origin.port ? { port: Number(origin.port) } : {}),
      path: objectPath(key),
      query,
      headers: { ...headers, host: origin.host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
    }
    const signed = await signer.presign(request, {
      expiresIn,
      signingDate,
      // The presigner's defaults: content-type is not signed unless asked for (signableHeaders below).
      unsignableHeaders: new Set(['content-type']),
      signableHeaders: new Set(Object.keys(headers)),
    })
    return `${origin.origin}${signed.path}${queryString(signed.query as Record<string, string>)}`
  }

  return {
    async presignUpload({ key, contentType, size }): Promise<UploadTicket> {
      const signingDate = now()
      // If-None-Match '*': a conditional write, so the object is write-once. A second PUT with the
      // same URL (after the message was sent, to swap the file recipients download) fails with 412.
      // All three headers are signed: an upload without them (or with other values) fails the signature.
      const headers = { 'content-type': contentType, 'content-length': String(size), 'if-none-match': '*' }
      const url = await presign('PUT', key, { 'x-id': 'PutObject' }, headers, settings.uploadUrlSeconds, signingDate)
      return {
        url,
        method: 'PUT',
        headers,
        expiresAt: new Date(signingDate.getTime() + settings.uploadUrlSeconds * 1000).toISOString(),
      }
    },

    presignDownload({ key, fileName, contentType }) {
      const query = { 'response-content-disposition': contentDisposition(fileName), 'response-content-type': contentType, 'x-id': 'GetObject' }
      return presign('GET', key, query, {}, settings.downloadUrlSeconds, now())
    },

    async head(key): Promise<StoredObject | null> {
      const reply = await http.send({ method: 'HEAD', origin, path: objectPath(key) })
      if (reply.status === 404) return null
      if (reply.status !== 200) throw s3Error(reply, 'HeadObject')
      return { contentType: String(reply.headers['content-type'] ?? ''), size: Number(reply.headers['content-length'] ?? 0) }
    },

    async delete(key) {
      const reply = await http.send({ method: 'DELETE', origin, path: objectPath(key), query: { 'x-id': 'DeleteObject' } })
      if (reply.status < 200 || reply.status >= 300) throw s3Error(reply, 'DeleteObject')
    },
  }
}

/**
 * Where the bucket's objects are: virtual-hosted (`{bucket}.s3.{region}.amazonaws.com`, or the
 * configured endpoint's host behind the bucket name) unless path style is asked for or the bucket
 * name has a dot (it would not match S3's TLS certificate), as the SDK resolves it.
 */
function bucketLocation(settings: S3StorageSettings): { origin: URL; prefix: string } {
  const suffix = settings.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'
  const endpoint = new URL(settings.endpoint ?? `https://s3.${settings.region}.${suffix}`)
  const base = endpoint.pathname.replace(/\/+$/, '')
  if (settings.forcePathStyle || settings.bucket.includes('.')) return { origin: new URL(endpoint.origin), prefix: `${base}/${escapeUri(settings.bucket)}` }
  return { origin: new URL(`${endpoint.protocol}//${settings.bucket}.${endpoint.host}`), prefix: base }
}

/** S3's XML error (`<Error><Code>…</Code><Message>…</Message>`); a HEAD has no body, so its status names it, as the SDK does. */
function s3Error(reply: AwsReply, operation: string): AwsError {
  const text = reply.body.toString('utf8')
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? (reply.status === 403 ? 'Forbidden' : reply.status === 404 ? 'NotFound' : `Http${reply.status}Error`)
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `${operation} answered ${reply.status}`
  return new AwsError(code, unescapeXml(message), reply.status)
}

/** `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / RFC 8187). */
export function contentDisposition(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`
}
