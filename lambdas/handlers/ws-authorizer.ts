import middy, { type MiddlewareObj } from '@middy/core'
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda'
import { createTokenVerifier, extractToken, type TokenVerifier } from '../adapters/jwt.ts'
import { config } from '../config.ts'
import { describeError, isChatError } from '../core/errors.ts'
import type { Log } from '../core/ports.ts'
import { createBase } from '../wiring/base.ts'

export interface AuthorizerPorts {
  verifier: TokenVerifier
  /** Browser origins allowed to open the WebSocket; apps send no Origin. */
  allowedOrigins: readonly string[]
  log: Log
}

/**
 * The `$connect` REQUEST authorizer: verifies the JWT (header or `?token=`) before API Gateway
 * upgrades the connection, and checks a browser's Origin against the allowed list (native apps
 * send none). Throwing `Unauthorized` makes API Gateway answer 401; a Deny policy answers 403.
 * The verified identity travels to every route of the connection as the authorizer context.
 */
export function createAuthorizer({ verifier, allowedOrigins, log }: AuthorizerPorts, middlewares: MiddlewareObj[] = []) {
  async function authorize(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
    const origin = headerValue(event.headers, 'origin')
    if (origin !== undefined && !allowedOrigins.includes(origin)) {
      log.warn('WebSocket handshake from a disallowed origin', { origin })
      return policy('anonymous', 'Deny', event.methodArn)
    }
    const token = extractToken(event.headers, event.queryStringParameters)
    if (!token) throw new Error('Unauthorized')
    try {
      const identity = await verifier(token)
      return {
        ...policy(identity.subject, 'Allow', event.methodArn),
        // Authorizer context values must be strings, numbers or booleans.
        context: {
          sub: identity.subject,
          email: identity.email,
          name: identity.displayName,
          // A JSON array: joining with a separator would let a group named `coaches,admin` split in two.
          groups: JSON.stringify(identity.groups),
          tokenExpiresAt: identity.expiresAt.getTime(),
        },
      }
    } catch (error) {
      if (!isChatError(error)) log.error('token verification failed unexpectedly', describeError(error))
      // An unreachable key set refuses everybody (fail closed): that is an outage, not a bad token.
      else if (error.details?.reason === 'ERR_JWKS_UNAVAILABLE') log.warn('token refused: the identity provider’s key set is unavailable')
      else log.info('token refused', { reason: error.details?.reason })
      // API Gateway answers 401 whatever the cause; the cause (never the token) is for the local gateway's refusal body.
      throw new Error('Unauthorized', { cause: error })
    }
  }
  return middy<APIGatewayRequestAuthorizerEvent, APIGatewayAuthorizerResult, Error, Context>(authorize).use(middlewares)
}

function policy(principalId: string, effect: 'Allow' | 'Deny', resource: string): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
  }
}

function headerValue(headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) if (key.toLowerCase() === name) return value
  return undefined
}

const base = createBase(config())
export const handler = createAuthorizer(
  { verifier: createTokenVerifier(base.config.jwt), allowedOrigins: base.config.allowedOrigins, log: base.log },
  base.middlewares,
)
