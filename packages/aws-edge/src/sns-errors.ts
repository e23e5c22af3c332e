import type { AuthFailure } from './sigv4.ts'

/** An SNS error as the service reports it: a code, a Sender/Receiver type and an HTTP status. */
export class SnsError extends Error {
  override readonly name = 'SnsError'
  readonly status: number
  readonly type: 'Sender' | 'Receiver'

  constructor(readonly code: string, message: string, status?: number) {
    super(message)
    this.status = status ?? STATUS_BY_CODE[code] ?? 400
    this.type = this.status >= 500 ? 'Receiver' : 'Sender'
  }
}

// Statuses from the SNS API model (awsQueryError traits) for the codes this emulator can produce.
const STATUS_BY_CODE: Record<string, number> = {
  AuthorizationError: 403,
  EndpointDisabled: 400,
  InternalError: 500,
  InvalidParameter: 400,
  InvalidParameterValue: 400,
  NotFound: 404,
  PlatformApplicationDisabled: 400,
  ResourceNotFound: 404,
  Throttled: 429,
  ServiceUnavailable: 503,
}

/** Codes that are modelled errors; the JSON protocol names their shapes `<Code>Exception`. */
export function isModelledCode(code: string): boolean {
  return code !== 'ServiceUnavailable' && Object.hasOwn(STATUS_BY_CODE, code)
}

export const snsErrors = {
  invalidParameter: (message: string) => new SnsError('InvalidParameter', `Invalid parameter: ${message}`),
  invalidParameterValue: (message: string) => new SnsError('InvalidParameterValue', message),
  notFound: (message: string) => new SnsError('NotFound', message),
  endpointDisabled: () => new SnsError('EndpointDisabled', 'Endpoint is disabled'),
  invalidAction: (action: string) => new SnsError('InvalidAction', `The action ${action} is not valid for this web service.`, 400),
  internalError: () => new SnsError('InternalError', 'Internal Error'),
  injected: (code: string) => new SnsError(code, code === 'InternalError' ? 'Internal Error' : `Injected ${code}`),
}

/** What SNS (like every query-protocol service) answers for each signature failure. */
export function authFailureToSns(failure: AuthFailure): SnsError {
  switch (failure.kind) {
    case 'missing':
      return new SnsError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
    case 'unknownAccessKey':
      return new SnsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403)
    case 'signatureMismatch':
      return new SnsError(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
        403,
      )
    case 'skewed':
    case 'expired':
      return new SnsError('SignatureDoesNotMatch', failure.message, 403)
    case 'malformedHeader':
    case 'malformedQuery':
    case 'missingDate':
    case 'unsupported':
    case 'conflicting':
    case 'headersNotSigned':
    case 'missingContentSha256':
      return new SnsError('IncompleteSignature', failure.message, 400)
  }
}
