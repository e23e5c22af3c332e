import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FaultInjector } from './faults.ts'
import { discardBody, headerMap, s3RequestId, send, type ParsedUrl } from './http.ts'
import { authFailureToS3, S3Error, s3Errors, sendS3Error } from './s3-errors.ts'
import { readVerifiedPayload } from './s3-payload.ts'
import type { ObjectStore, StoredObject } from './s3-store.ts'
import { verifySignature, type Authenticated, type VerifierConfig } from './sigv4.ts'

/**
 * Path-style S3 (/{bucket}/{key}): buckets, PutObject, GetObject, HeadObject, DeleteObject.
 * Every request is authenticated first, as S3 does, so an unsigned or forged request learns
 * nothing about which buckets and keys exist.
 */

export interface S3Deps {
  store: ObjectStore
  verifier: VerifierConfig
  faults: FaultInjector
  /** Largest object accepted; bodies are held in memory while they are verified. */
  maxObjectBytes: number
}

interface Target {
  bucket: string
  key: string
  resource: string
}

interface Call {
  req: IncomingMessage
  res: ServerResponse
  url: ParsedUrl
  headers: Record<string, string>
  auth: Authenticated
  target: Target
  requestId: string
}

// Bodies of bucket-level calls (CreateBucket's location XML) are tiny.
const MAX_CONTROL_BODY = 1024 * 1024
const REPRESENTATION_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires']
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
}

export function createS3Handler(deps: S3Deps): (req: IncomingMessage, res: ServerResponse, url: ParsedUrl) => Promise<void> {
  return async (req, res, url) => {
    const requestId = s3RequestId()
    const isHead = req.method === 'HEAD'
    let resource = url.rawPath
    try {
      const injected = deps.faults.take()
      if (injected !== undefined) throw s3Errors.injected(injected)
      const target = parseTarget(url.rawPath)
      resource = target.resource
      const headers = headerMap(req)
      const auth = await verifySignature(deps.verifier, { method: req.method ?? 'GET', url, headers })
      if (!auth.ok) throw authFailureToS3(auth)
      await route(deps, { req, res, url, headers, auth, target, requestId })
    } catch (error) {
      discardBody(req)
      if (error instanceof S3Error) {
        sendS3Error(res, error, requestId, resource, isHead)
        return
      }
      console.error(`[aws-edge] s3 ${req.method} ${url.rawPath} failed: ${error instanceof Error ? error.message : String(error)}`)
      sendS3Error(res, s3Errors.internalError(), requestId, resource, isHead)
    }
  }
}

async function route(deps: S3Deps, call: Call): Promise<void> {
  const { bucket, key } = call.target
  const method = call.req.method ?? 'GET'
  if (bucket === '') throw method === 'GET' ? s3Errors.notImplemented('ListBuckets') : s3Errors.methodNotAllowed(method)
  if (key === '') {
    if (method === 'PUT') return createBucket(deps, call)
    if (method === 'HEAD') return headBucket(deps, call)
    if (method === 'GET' || method === 'DELETE' || method === 'POST') throw s3Errors.notImplemented(`${method} on a bucket`)
    throw s3Errors.methodNotAllowed(method)
  }
  if (method === 'PUT') return putObject(deps, call)
  if (method === 'GET' || method === 'HEAD') return getObject(deps, call, method === 'HEAD')
  if (method === 'DELETE') return deleteObject(deps, call)
  if (method === 'POST') throw s3Errors.notImplemented('multipart uploads and POST object')
  throw s3Errors.methodNotAllowed(method)
}

async function createBucket(deps: S3Deps, call: Call): Promise<void> {
  const { bucket } = call.target
  await readVerifiedPayload(call.req, call.headers, call.url, call.auth, { requireLength: false, maxBytes: MAX_CONTROL_BODY })
  if (!isValidBucketName(bucket)) throw s3Errors.invalidBucketName(bucket)
  const created = await deps.store.createBucket(bucket)
  // us-east-1 answers 200 to re-creating a bucket you own; every other region answers 409.
  if (!created && deps.verifier.region !== 'us-east-1') throw s3Errors.bucketAlreadyOwnedByYou(bucket)
  send(call.res, 200, { 'x-amz-request-id': call.requestId, Location: `/${bucket}` })
}

async function headBucket(deps: S3Deps, call: Call): Promise<void> {
  discardBody(call.req)
  await requireBucket(deps, call.target.bucket)
  send(call.res, 200, { 'x-amz-request-id': call.requestId, 'x-amz-bucket-region': deps.verifier.region })
}

async function putObject(deps: S3Deps, call: Call): Promise<void> {
  const { bucket, key } = call.target
  if (call.headers['x-amz-copy-source'] !== undefined) throw s3Errors.notImplemented('CopyObject')
  if (call.url.query.some(([name]) => name === 'partNumber' || name === 'uploadId')) throw s3Errors.notImplemented('UploadPart')
  // Conditional writes as S3 has them: `If-None-Match: *` creates the object only if the key holds
  // none (412 PreconditionFailed otherwise); other conditions are not implemented here.
  const ifNoneMatch = call.headers['if-none-match']
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw s3Errors.notImplemented('If-None-Match other than *')
  if (call.headers['if-match'] !== undefined) throw s3Errors.notImplemented('If-Match on PUT')
  await requireBucket(deps, bucket)
  const body = await readVerifiedPayload(call.req, call.headers, call.url, call.auth, {
    requireLength: true,
    maxBytes: deps.maxObjectBytes,
  })
  const stored = await deps.store.put(
    bucket,
    key,
    body,
    {
      // S3's default when the uploader names no type.
      contentType: call.headers['content-type'] ?? 'binary/octet-stream',
      userMetadata: userMetadata(call.headers),
      headers: representationHeaders(call.headers),
    },
    { ifAbsent: ifNoneMatch !== undefined },
  )
  if (stored === undefined) throw s3Errors.preconditionFailed('If-None-Match')
  send(call.res, 200, { 'x-amz-request-id': call.requestId, ETag: stored.etag })
}

async function getObject(deps: S3Deps, call: Call, headOnly: boolean): Promise<void> {
  discardBody(call.req)
  const { bucket, key } = call.target
  await requireBucket(deps, bucket)
  const found = headOnly ? await headOnlyObject(deps, bucket, key) : await deps.store.get(bucket, key)
  if (found === undefined) throw s3Errors.noSuchKey(key)
  const headers = objectHeaders(found.object, call)
  const range = parseRange(call.headers['range'], found.object.contentLength)
  if (range === 'unsatisfiable') throw s3Errors.invalidRange(found.object.contentLength)
  if (range === undefined) {
    send(call.res, 200, { ...headers, 'Content-Length': found.object.contentLength }, headOnly ? undefined : found.body)
    return
  }
  send(
    call.res,
    206,
    {
      ...headers,
      'Content-Length': range.end - range.start + 1,
      'Content-Range': `bytes ${range.start}-${range.end}/${found.object.contentLength}`,
    },
    headOnly ? undefined : found.body.subarray(range.start, range.end + 1),
  )
}

async function headOnlyObject(deps: S3Deps, bucket: string, key: string): Promise<{ object: StoredObject; body: Buffer } | undefined> {
  const object = await deps.store.head(bucket, key)
  return object === undefined ? undefined : { object, body: Buffer.alloc(0) }
}

async function deleteObject(deps: S3Deps, call: Call): Promise<void> {
  discardBody(call.req)
  const { bucket, key } = call.target
  await requireBucket(deps, bucket)
  // Deleting a key that does not exist succeeds in S3 too.
  await deps.store.delete(bucket, key)
  send(call.res, 204, { 'x-amz-request-id': call.requestId })
}

async function requireBucket(deps: S3Deps, bucket: string): Promise<void> {
  // An invalid name cannot be a directory we created, and must never reach the file system.
  if (!isValidBucketName(bucket) || !(await deps.store.hasBucket(bucket))) throw s3Errors.noSuchBucket(bucket)
}

function objectHeaders(object: StoredObject, call: Call): Record<string, string> {
  const headers: Record<string, string> = {
    'x-amz-request-id': call.requestId,
    'Content-Type': object.contentType,
    ETag: object.etag,
    'Last-Modified': new Date(object.lastModified).toUTCString(),
    'Accept-Ranges': 'bytes',
    ...object.headers,
  }
  for (const [name, value] of Object.entries(object.userMetadata)) headers[`x-amz-meta-${name}`] = value
  // Signed GETs may ask for different response headers (a presigned download's Content-Disposition).
  for (const [param, value] of call.url.query) {
    const header = RESPONSE_OVERRIDES[param]
    if (header === undefined) continue
    if (header === 'content-type') headers['Content-Type'] = value
    else headers[header] = value
  }
  return headers
}

function parseTarget(rawPath: string): Target {
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath
  const slash = path.indexOf('/')
  const rawBucket = slash === -1 ? path : path.slice(0, slash)
  const rawKey = slash === -1 ? '' : path.slice(slash + 1)
  try {
    const bucket = decodeURIComponent(rawBucket)
    const key = decodeURIComponent(rawKey)
    return { bucket, key, resource: key === '' ? `/${bucket}` : `/${bucket}/${key}` }
  } catch (cause) {
    if (cause instanceof URIError) throw s3Errors.invalidUri()
    throw cause
  }
}

function isValidBucketName(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket)
}

function userMetadata(headers: Readonly<Record<string, string>>): Record<string, string> {
  const metadata: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value
  }
  return metadata
}

function representationHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const name of REPRESENTATION_HEADERS) {
    const value = headers[name]
    if (value === undefined) continue
    if (name === 'content-encoding') {
      // aws-chunked describes the upload framing, not the object; S3 drops it.
      const encodings = value.split(',').map((part) => part.trim()).filter((part) => part !== '' && part !== 'aws-chunked')
      if (encodings.length > 0) kept[name] = encodings.join(',')
      continue
    }
    kept[name] = value
  }
  return kept
}

/** A single `bytes=` range; multiple ranges are ignored (S3 serves the whole object then too). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null) return undefined
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (start >= size) return 'unsatisfiable'
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  return end < start ? undefined : { start, end }
}
