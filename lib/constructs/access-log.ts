import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway'

/**
 * Access-log lines, one JSON object per request. Built from an explicit allow-list of `$context`
 * variables so nothing request-supplied sneaks in: the WebSocket token may travel as `?token=…`,
 * so no query string, no full path (device tokens sit in `DELETE /devices/{token}`) and no headers.
 * The route key (`GET /devices/{token}` with the placeholder) says which route ran.
 */
const COMMON_FIELDS = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTimeEpoch',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  routeKey: '$context.routeKey',
  status: '$context.status',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integration.error',
  error: '$context.error.message',
  authorizerError: '$context.authorizer.error',
} as const

export const WEBSOCKET_ACCESS_LOG_FIELDS = {
  ...COMMON_FIELDS,
  eventType: '$context.eventType',
  connectionId: '$context.connectionId',
  /** The Cognito `sub` the authorizer returned as principalId. */
  principalId: '$context.authorizer.principalId',
} as const

export const HTTP_ACCESS_LOG_FIELDS = {
  ...COMMON_FIELDS,
  method: '$context.httpMethod',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  sub: '$context.authorizer.claims.sub',
} as const

export function jsonAccessLogFormat(fields: Record<string, string>): AccessLogFormat {
  return AccessLogFormat.custom(JSON.stringify(fields))
}
