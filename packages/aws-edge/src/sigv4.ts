import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'
import type { ParsedUrl } from './http.ts'

/**
 * Verifies AWS Signature Version 4 the way the real services do: the signature is
 * recomputed with the SDK's own signer over the request as received (only the headers
 * the client listed as signed) and compared in constant time.
 */

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

export interface VerifierConfig {
  service: 's3' | 'sns' | 'execute-api'
  region: string
  credentials: readonly Credentials[]
  now: () => number
}

export interface SignedRequestInput {
  method: string
  url: ParsedUrl
  /** Lower-case header name → value (repeated headers joined with commas). */
  headers: Readonly<Record<string, string>>
  /** The body, for services whose payload hash is computed from it (not S3). */
  body?: Uint8Array
}

export type AuthFailureKind =
  | 'missing'
  | 'conflicting'
  | 'unsupported'
  | 'malformedHeader'
  | 'malformedQuery'
  | 'missingDate'
  | 'missingContentSha256'
  | 'unknownAccessKey'
  | 'skewed'
  | 'expired'
  | 'headersNotSigned'
  | 'signatureMismatch'

export interface AuthFailure {
  ok: false
  kind: AuthFailureKind
  message: string
}

export interface Authenticated {
  ok: true
  via: 'header' | 'query'
  accessKeyId: string
  signature: string
  /** Signature of one aws-chunked chunk, chained from the previous one (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
  signChunk(priorSignature: string, chunk: Uint8Array): Promise<string>
}

export type AuthResult = Authenticated | AuthFailure

const ALGORITHM = 'AWS4-HMAC-SHA256'
const MAX_PRESIGNED_SECONDS = 604_800
// S3 tolerates 15 minutes of clock difference; the query services 5.
const S3_MAX_SKEW_MS = 15 * 60_000
const DEFAULT_MAX_SKEW_MS = 5 * 60_000
const QUERY_AUTH_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
] as const

export async function verifySignature(config: VerifierConfig, input: SignedRequestInput): Promise<AuthResult> {
  const authorization = input.headers['authorization']
  const hasQueryAuth = input.url.query.some(([name]) => name === 'X-Amz-Algorithm' || name === 'X-Amz-Signature')
  if (authorization !== undefined && hasQueryAuth) {
    return fail('conflicting', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified')
  }
  if (authorization !== undefined) return verifyHeaderAuth(config, input, authorization)
  if (hasQueryAuth) return verifyQueryAuth(config, input)
  return fail('missing', 'Request is not signed')
}

async function verifyHeaderAuth(config: VerifierConfig, input: SignedRequestInput, authorization: string): Promise<AuthResult> {
  if (!authorization.startsWith(`${ALGORITHM} `)) {
    return fail('unsupported', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.')
  }
  const fields = parseAuthorizationFields(authorization.slice(ALGORITHM.length + 1))
  const credential = fields.get('Credential')
  const signedHeaderList = fields.get('SignedHeaders')
  const signature = fields.get('Signature')
  if (credential === undefined || signedHeaderList === undefined || signature === undefined) {
    return fail('malformedHeader', 'The authorization header is malformed; it must contain Credential, SignedHeaders and Signature.')
  }
  const amzDate = input.headers['x-amz-date']
  if (amzDate === undefined) {
    return fail('missingDate', 'AWS authentication requires a valid Date or x-amz-date header')
  }
  const signingDate = parseAmzDate(amzDate)
  if (signingDate === undefined) return fail('missingDate', `Invalid x-amz-date: ${amzDate}`)

  const scope = checkCredential(config, credential, amzDate, 'malformedHeader')
  if (!scope.ok) return scope
  const secret = findSecret(config, scope.accessKeyId)
  if (secret === undefined) return unknownKey()

  const skewLimit = config.service === 's3' ? S3_MAX_SKEW_MS : DEFAULT_MAX_SKEW_MS
  if (Math.abs(config.now() - signingDate.getTime()) > skewLimit) {
    return fail('skewed', `Signature expired: ${amzDate} is outside the allowed clock skew`)
  }
  const signedHeaders = signedHeaderList.split(';')
  const headerProblem = checkSignedHeaders(config, input, signedHeaders)
  if (headerProblem !== undefined) return headerProblem
  const declaredPayloadHash = input.headers['x-amz-content-sha256']
  if (config.service === 's3' && declaredPayloadHash === undefined) {
    return fail('missingContentSha256', 'Missing required header for this request: x-amz-content-sha256')
  }
  // The signer trusts a declared payload hash; outside S3 nothing else would compare it with the body.
  if (config.service !== 's3' && declaredPayloadHash !== undefined && declaredPayloadHash !== sha256Hex(input.body ?? new Uint8Array(0))) {
    return mismatch()
  }

  const signer = makeSigner(config, scope.accessKeyId, secret)
  const signed = await signer.sign(
    {
      method: input.method,
      protocol: 'http:',
      hostname: 'localhost',
      path: canonicalPathInput(config, input.url.rawPath),
      query: queryBag(input.url.query, []),
      headers: pick(input.headers, signedHeaders),
      // S3's payload hash is the signed x-amz-content-sha256 header (the signer reads it from the headers).
      body: config.service === 's3' ? undefined : input.body,
    },
    { signingDate, signableHeaders: new Set(signedHeaders) },
  )
  const expected = /Signature=([0-9a-f]+)$/.exec(signed.headers['authorization'] ?? '')?.[1] ?? ''
  if (!sameSignature(expected, signature)) return mismatch()
  return authenticated('header', scope.accessKeyId, signature, signer, signingDate)
}

async function verifyQueryAuth(config: VerifierConfig, input: SignedRequestInput): Promise<AuthResult> {
  const params = new Map<string, string>()
  for (const name of QUERY_AUTH_PARAMS) {
    const value = input.url.query.find(([key]) => key === name)?.[1]
    if (value !== undefined) params.set(name, value)
  }
  const [algorithm, credential, amzDate, expires, signedHeaderList, signature] = QUERY_AUTH_PARAMS.map((name) => params.get(name))
  if (
    algorithm === undefined || credential === undefined || amzDate === undefined ||
    expires === undefined || signedHeaderList === undefined || signature === undefined
  ) {
    return fail('malformedQuery', 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
  }
  if (algorithm !== ALGORITHM) return fail('malformedQuery', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
  const signingDate = parseAmzDate(amzDate)
  if (signingDate === undefined) return fail('malformedQuery', `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
  if (!/^\d+$/.test(expires)) return fail('malformedQuery', 'X-Amz-Expires should be a number')
  const expiresIn = Number(expires)
  if (expiresIn > MAX_PRESIGNED_SECONDS) {
    return fail('malformedQuery', `X-Amz-Expires must be less than a week (in seconds) that is; ${MAX_PRESIGNED_SECONDS}`)
  }

  const scope = checkCredential(config, credential, amzDate, 'malformedQuery')
  if (!scope.ok) return scope
  const secret = findSecret(config, scope.accessKeyId)
  if (secret === undefined) return unknownKey()
  // S3 answers "expired" before looking at the signature, so an expired URL says nothing about its validity.
  if (config.now() > signingDate.getTime() + expiresIn * 1000) {
    return fail('expired', 'Request has expired')
  }
  const signedHeaders = signedHeaderList.split(';')
  const headerProblem = checkSignedHeaders(config, input, signedHeaders)
  if (headerProblem !== undefined) return headerProblem

  const headers = pick(input.headers, signedHeaders)
  const unsignable = new Set<string>()
  if (config.service === 's3' && headers['x-amz-content-sha256'] === undefined) {
    // A presigned S3 URL never covers the body: the canonical request's payload hash is
    // UNSIGNED-PAYLOAD. Handing the signer that header (neither hoisted nor signed) makes it use it.
    headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
    unsignable.add('x-amz-content-sha256')
  }
  const signer = makeSigner(config, scope.accessKeyId, secret)
  const presigned = await signer.presign(
    {
      method: input.method,
      protocol: 'http:',
      hostname: 'localhost',
      path: canonicalPathInput(config, input.url.rawPath),
      // The signer adds the authentication parameters back itself, from the options below.
      query: queryBag(input.url.query, QUERY_AUTH_PARAMS),
      headers,
      body: config.service === 's3' ? undefined : input.body,
    },
    {
      signingDate,
      expiresIn,
      signableHeaders: new Set(signedHeaders),
      unsignableHeaders: unsignable,
      // Signed headers were sent as headers; the signer must not move x-amz-* ones into the query.
      unhoistableHeaders: new Set(Object.keys(headers)),
    },
  )
  const expectedValue = presigned.query?.['X-Amz-Signature']
  const expected = typeof expectedValue === 'string' ? expectedValue : ''
  if (!sameSignature(expected, signature)) return mismatch()
  return authenticated('query', scope.accessKeyId, signature, signer, signingDate)
}

interface Scope {
  ok: true
  accessKeyId: string
}

/** Credential = AKID/yyyymmdd/region/service/aws4_request, each part checked like AWS does. */
function checkCredential(
  config: VerifierConfig,
  credential: string,
  amzDate: string,
  kind: 'malformedHeader' | 'malformedQuery',
): Scope | AuthFailure {
  const parts = credential.split('/')
  if (parts.length !== 5) return fail(kind, 'The Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
  const [accessKeyId = '', date, region, service, terminator] = parts
  if (date !== amzDate.slice(0, 8)) return fail(kind, `Invalid credential date "${date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`)
  if (region !== config.region) return fail(kind, `The authorization is malformed; the region '${region}' is wrong; expecting '${config.region}'`)
  if (service !== config.service) return fail(kind, `The authorization is malformed; incorrect service "${service}". This endpoint belongs to "${config.service}".`)
  if (terminator !== 'aws4_request') return fail(kind, `The authorization is malformed; incorrect terminal "${terminator}". This endpoint uses "aws4_request".`)
  return { ok: true, accessKeyId }
}

function checkSignedHeaders(config: VerifierConfig, input: SignedRequestInput, signedHeaders: readonly string[]): AuthFailure | undefined {
  if (!signedHeaders.includes('host')) return mismatch()
  // A header listed as signed but absent (say content-length on a chunked upload) cannot match.
  if (signedHeaders.some((name) => input.headers[name] === undefined)) return mismatch()
  if (config.service === 's3') {
    // S3 refuses x-amz-* headers the signature does not cover: they change what the request does.
    const unsigned = Object.keys(input.headers).filter((name) => name.startsWith('x-amz-') && !signedHeaders.includes(name))
    if (unsigned.length > 0) {
      return fail('headersNotSigned', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`)
    }
  }
  return undefined
}

function makeSigner(config: VerifierConfig, accessKeyId: string, secretAccessKey: string): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId, secretAccessKey },
    region: config.region,
    service: config.service,
    sha256: NodeSha256,
    // S3 signs the path exactly as sent; the other services normalise and re-encode it.
    uriEscapePath: config.service !== 's3',
    applyChecksum: false,
  })
}

function authenticated(
  via: 'header' | 'query',
  accessKeyId: string,
  signature: string,
  signer: SignatureV4,
  signingDate: Date,
): Authenticated {
  return {
    ok: true,
    via,
    accessKeyId,
    signature,
    // A chunk's string to sign hashes empty "headers" and the chunk, which is what the event signer computes.
    signChunk: (priorSignature, chunk) =>
      signer.sign({ headers: new Uint8Array(0), payload: chunk }, { signingDate, priorSignature }),
  }
}

/** SNS signers escape the path themselves, so they must get it decoded; S3 and execute-api sign it as sent. */
function canonicalPathInput(config: VerifierConfig, rawPath: string): string {
  // execute-api clients sign the path as sent (already escaped), so it is not decoded first.
  return config.service === 'sns' ? decodeURIComponent(rawPath) : rawPath
}

function queryBag(query: ParsedUrl['query'], exclude: readonly string[]): Record<string, string | string[]> {
  const bag: Record<string, string | string[]> = {}
  for (const [name, value] of query) {
    if (exclude.includes(name)) continue
    const existing = bag[name]
    bag[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value]
  }
  return bag
}

function pick(headers: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of names) {
    const value = headers[name]
    if (value !== undefined) picked[name] = value
  }
  return picked
}

function parseAuthorizationFields(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const part of text.split(',')) {
    const eq = part.indexOf('=')
    if (eq !== -1) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  return fields
}

/** `yyyyMMddTHHmmssZ` → Date, or undefined when it is not exactly that. */
export function parseAmzDate(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (match === null) return undefined
  const [, year, month, day, hour, minute, second] = match.map(Number)
  const date = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second))
  return Number.isNaN(date.getTime()) ? undefined : date
}

function findSecret(config: VerifierConfig, accessKeyId: string): string | undefined {
  return config.credentials.find((candidate) => candidate.accessKeyId === accessKeyId)?.secretAccessKey
}

function sameSignature(expected: string, provided: string): boolean {
  const a = Buffer.from(expected)
  const b = Buffer.from(provided)
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b)
}

function fail(kind: AuthFailureKind, message: string): AuthFailure {
  return { ok: false, kind, message }
}

function mismatch(): AuthFailure {
  return fail('signatureMismatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.')
}

function unknownKey(): AuthFailure {
  return fail('unknownAccessKey', 'The AWS Access Key Id you provided does not exist in our records.')
}

type SourceData = string | ArrayBuffer | ArrayBufferView

/** The signer's hash dependency, backed by node:crypto (an HMAC when given a key). */
export class NodeSha256 {
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
    return createHmac('sha256', toBuffer(this.secret))
  }
}

function toBuffer(data: SourceData): Buffer | string {
  if (typeof data === 'string') return data
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** Hex SHA-256, used to check x-amz-content-sha256 against what actually arrived. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
