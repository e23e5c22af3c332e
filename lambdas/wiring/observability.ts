import type { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { MiddlewareObj } from '@middy/core'

/** What an API Gateway event says about where it came from; every field optional (schedules, triggers). */
interface RoutedEvent {
  routeKey?: string
  requestContext?: { routeKey?: string; connectionId?: string; requestId?: string }
}

/**
 * The middlewares every Lambda handler gets: Powertools' Logger context (function name, request
 * id, cold start on every line, keys reset after each invocation), the route and connection id
 * of API Gateway events, and the invocation's metrics flushed as one embedded-metrics line.
 */
export function observability(logger: Logger, metrics: Metrics): MiddlewareObj[] {
  return [injectLambdaContext(logger, { resetKeys: true }), invocationKeys(logger), flushMetrics(metrics)]
}

function invocationKeys(logger: Logger): MiddlewareObj {
  return {
    before: (request) => {
      const event = request.event as RoutedEvent | undefined
      const context = event?.requestContext
      const route = context?.routeKey ?? event?.routeKey
      logger.appendKeys({
        ...(route ? { route } : {}),
        ...(context?.connectionId ? { connectionId: context.connectionId } : {}),
        ...(context?.requestId ? { apiRequestId: context.requestId } : {}),
      })
    },
  }
}

/** Publishes what the invocation counted; unlike Powertools' own middleware, says nothing when it counted nothing. */
export function flushMetrics(metrics: Metrics): MiddlewareObj {
  const flush = () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics()
  }
  return { after: flush, onError: flush }
}
