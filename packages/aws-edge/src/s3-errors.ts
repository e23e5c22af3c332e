import type { ServerResponse } from 'node:http'
import { escapeXml, send } from './http.ts'
import type { AuthFailure } from './sigv4.ts'

/** An S3 error: the code and status S3 answers with, rendered as its XML error document. */
export class S3Error extends Error {
  override readonly name = 'S3Error'

  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Extra elements S3 adds to this error (Key, BucketName, ...). */
    readonly details: Readonly<Record<string, string>> = {},
  ) {
    super(message)
  }
}

export const s3Errors = {
  noSuchBucket: (bucket: string) =>
    new S3Error('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: bucket }),
  noSuchKey: (key: string) => new S3Error('NoSuchKey', 404, 'The specified key does not exist.', { Key: key }),
  invalidBucketName: (bucket: string) =>
    new S3Error('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: bucket }),
  bucketAlreadyOwnedByYou: (bucket: string) =>
    new S3Error('BucketAlreadyOwnedByYou', 409, 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: bucket }),
  missingContentLength: () => new S3Error('MissingContentLength', 411, 'You must provide the Content-Length HTTP header.'),
  entityTooLarge: (limit: number) =>
    new S3Error('EntityTooLarge', 400, 'Your proposed upload exceeds the maximum allowed size', { MaxSizeAllowed: String(limit) }),
  incompleteBody: (message = 'You did not provide the number of bytes specified by the Content-Length HTTP header') =>
    new S3Error('IncompleteBody', 400, message),
  contentSha256Mismatch: (declared: string, computed: string) =>
    new S3Error('XAmzContentSHA256Mismatch', 400, "The provided 'x-amz-content-sha256' header does not match what was computed.", {
      ClientComputedContentSHA256: declared,
      S3ComputedContentSHA256: computed,
    }),
  invalidContentSha256: () =>
    new S3Error('InvalidArgument', 400, 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.'),
  invalidRange: (size: number) =>
    new S3Error('InvalidRange', 416, 'The requested range is not satisfiable', { ActualObjectSize: String(size) }),
  preconditionFailed: (condition: string) =>
    new S3Error('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold', { Condition: condition }),
  invalidUri: () => new S3Error('InvalidURI', 400, "Couldn't parse the specified URI."),
  notImplemented: (what: string) =>
    new S3Error('NotImplemented', 501, `A header or operation you provided implies functionality that is not implemented: ${what}`),
  methodNotAllowed: (method: string) =>
    new S3Error('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.', { Method: method }),
  internalError: () => new S3Error('InternalError', 500, 'We encountered an internal error. Please try again.'),
  injected: (code: string) =>
    code === 'SlowDown'
      ? new S3Error('SlowDown', 503, 'Please reduce your request rate.')
      : code === 'ServiceUnavailable'
        ? new S3Error('ServiceUnavailable', 503, 'Service is unable to handle request.')
        : new S3Error(code, 500, 'We encountered an internal error. Please try again.'),
}

/** The code and status S3 answers each way a signature can fail with. */
export function authFailureToS3(failure: AuthFailure): S3Error {
  switch (failure.kind) {
    case 'missing':
      return new S3Error('AccessDenied', 403, 'Access Denied')
    case 'expired':
    case 'headersNotSigned':
    case 'missingDate':
      return new S3Error('AccessDenied', 403, failure.message)
    case 'unknownAccessKey':
      return new S3Error('InvalidAccessKeyId', 403, failure.message)
    case 'signatureMismatch':
      return new S3Error('SignatureDoesNotMatch', 403, failure.message)
    case 'skewed':
      return new S3Error('RequestTimeTooSkewed', 403, 'The difference between the request time and the current time is too large.')
    case 'malformedHeader':
      return new S3Error('AuthorizationHeaderMalformed', 400, failure.message)
    case 'malformedQuery':
      return new S3Error('AuthorizationQueryParametersError', 400, failure.message)
    case 'missingContentSha256':
    case 'unsupported':
      return new S3Error('InvalidRequest', 400, failure.message)
    case 'conflicting':
      return new S3Error('InvalidArgument', 400, failure.message)
  }
}

/** HEAD answers carry no body, so a HEAD error is its status alone (the SDK then reports NotFound, Forbidden, ...). */
export function sendS3Error(res: ServerResponse, error: S3Error, requestId: string, resource: string, isHead: boolean): void {
  const headers = { 'x-amz-request-id': requestId, 'x-amz-id-2': requestId }
  if (isHead) {
    send(res, error.status, headers)
    return
  }
  const details = Object.entries(error.details)
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`)
    .join('')
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message>${details}` +
    `<Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`
  send(res, error.status, { ...headers, 'Content-Type': 'application/xml' }, body)
}
