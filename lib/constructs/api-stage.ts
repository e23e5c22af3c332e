import { type CfnStage, type IAccessLogSettings, type IStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import type { Construct, IDependable } from 'constructs'
import type { HandlerName } from '../functions.ts'
import type { ThrottleSettings } from '../routes.ts'
import { jsonAccessLogFormat } from './access-log.ts'
import { logGroup, type LogGroupSettings } from './log-group.ts'

/** What the HTTP and the WebSocket API share: their props, JSON access logs and per-route throttles on their stage. */

/** The props of either API construct, over its own kind of deployed route. */
export interface ChatApiProps<Route> extends LogGroupSettings {
  readonly apiName: string
  readonly routes: readonly Route[]
  readonly functionFor: (handler: HandlerName) => IFunction
  /** The stage's default throttle; routes may declare their own. */
  readonly throttle: ThrottleSettings
}

/** JSON access logs with the given fields, into a log group `AccessLogs` of the API's construct. */
export function stageAccessLogs(api: Construct, fields: Record<string, string>, settings: LogGroupSettings): IAccessLogSettings {
  return { destination: new LogGroupLogDestination(logGroup(api, 'AccessLogs', settings)), format: jsonAccessLogFormat(fields) }
}

/**
 * Throttles the routes that declare their own limits. Route settings name routes by key, so the
 * routes (`created`) must exist before the stage references them.
 */
export function throttleRoutes(
  stage: IStage,
  routes: readonly { readonly key: string; readonly throttle?: ThrottleSettings }[],
  created: readonly IDependable[],
): void {
  const cfnStage = stage.node.defaultChild as CfnStage
  // routeSettings is untyped JSON passed through verbatim, hence CloudFormation's PascalCase keys.
  cfnStage.routeSettings = Object.fromEntries(
    routes
      .filter((route) => route.throttle)
      .map((route) => [
        route.key,
        { ThrottlingRateLimit: route.throttle!.rateLimit, ThrottlingBurstLimit: route.throttle!.burstLimit },
      ]),
  )
  for (const route of created) stage.node.addDependency(route)
}
