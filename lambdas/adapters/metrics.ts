import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import type { Counter } from '../core/ports.ts'
import { SERVICE_NAME } from './logger.ts'

/**
 * The operational counts as CloudWatch embedded metrics (one JSON line per invocation, which
 * CloudWatch turns into metrics with no API call), through Powertools for AWS Lambda's Metrics.
 * Its middy middleware (lambdas/wiring/observability.ts) flushes them at the end of each invocation.
 */
export const METRICS_NAMESPACE = 'TrainerChat'

export function createMetrics(): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME })
}

export function counterOf(metrics: Metrics): Counter {
  return { count: (name, value = 1) => void metrics.addMetric(name, MetricUnit.Count, value) }
}

/** The counts of a process that publishes none (the local stack): each is dropped as it is made. */
export const NO_COUNTS: Counter = { count: () => {} }
