import type { IncomingMessage } from 'node:http'
import { decodeAwsChunked } from './aws-chunked.ts'
import { checkDigests } from './checksums.ts'
import { BodyTooLargeError, readBody, type ParsedUrl } from './http.ts'
import { S3Error, s3Errors } from './s3-errors.ts'
import { sha256Hex, type Authenticated } from './sigv4.ts'

/**
 * Reads an S3 request body and holds it to everything the request declared about it:
 * its length, its x-amz-content-sha256, its Content-MD5 and x-amz-checksum-* values.
 * Any mismatch throws the S3 error, and the caller stores nothing.
 */

export interface PayloadRules {
  /** PutObject refuses a body of unknown length (a chunked upload without aws-chunked framing). */
  requireLength: boolean
  maxBytes: number
}

const UNSIGNED = 'UNSIGNED-PAYLOAD'
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'

export async function readVerifiedPayload(
  req: IncomingMessage,
  headers: Readonly<Record<string, string>>,
  url: ParsedUrl,
  auth: Authenticated,
  rules: PayloadRules,
): Promise<Buffer> {
  // Presigned requests do not send the header; their payload is unsigned by definition.
  const mode = headers['x-amz-content-sha256'] ?? UNSIGNED
  const streaming = mode.startsWith('STREAMING-')
  if (streaming && mode !== STREAMING_UNSIGNED_TRAILER && mode !== STREAMING_SIGNED) {
    throw s3Errors.notImplemented(`x-amz-content-sha256: ${mode}`)
  }
  if (!streaming && mode !== UNSIGNED && !/^[0-9a-f]{64}$/.test(mode)) throw s3Errors.invalidContentSha256()

  const declaredLength = streaming ? headers['x-amz-decoded-content-length'] : headers['content-length']
  if (rules.requireLength && declaredLength === undefined) throw s3Errors.missingContentLength()
  if (declaredLength !== undefined && Number(declaredLength) > rules.maxBytes) throw s3Errors.entityTooLarge(rules.maxBytes)

  let raw: Buffer
  try {
    // Node's parser already stops at Content-Length bytes, and that header is signed: the body cannot outgrow the signature.
    raw = await readBody(req, streaming ? rules.maxBytes * 2 : rules.maxBytes)
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw s3Errors.entityTooLarge(rules.maxBytes)
    throw s3Errors.incompleteBody()
  }

  let body = raw
  const declaredDigests: Record<string, string> = {}
  if (streaming) {
    const decoded = await decodeAwsChunked(
      raw,
      mode === STREAMING_SIGNED ? { seedSignature: auth.signature, signChunk: auth.signChunk } : undefined,
    )
    if (!decoded.ok) {
      throw decoded.code === 'SignatureDoesNotMatch'
        ? new S3Error('SignatureDoesNotMatch', 403, decoded.message)
        : s3Errors.incompleteBody(decoded.message)
    }
    body = decoded.body
    Object.assign(declaredDigests, decoded.trailers)
    if (declaredLength !== undefined && Number(declaredLength) !== body.length) throw s3Errors.incompleteBody()
  } else if (mode !== UNSIGNED) {
    const computed = sha256Hex(body)
    if (computed !== mode) throw s3Errors.contentSha256Mismatch(mode, computed)
  }

  // A presigned URL carries its checksum as a query parameter (x-amz-checksum-crc32=...).
  for (const [name, value] of url.query) {
    if (name.toLowerCase().startsWith('x-amz-checksum-')) declaredDigests[name.toLowerCase()] = value
  }
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'content-md5' || name.startsWith('x-amz-checksum-')) declaredDigests[name] = value
  }
  const problem = checkDigests(declaredDigests, body)
  if (problem !== undefined) throw new S3Error(problem.code, 400, problem.message)
  return body
}
