import { Stack, Validations } from 'aws-cdk-lib'
import {
  CfnAuthorizer,
  CfnIntegration,
  CfnIntegrationResponse,
  CfnRoute,
  CfnRouteResponse,
  WebSocketApi,
  type WebSocketRoute,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2'
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import { PolicyStatement } from 'aws-cdk-lib/aws-iam'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import { Construct } from 'constructs'
import type { DeployedWebSocketRoute } from '../routes.ts'
import { PING_ACTION, PONG_REPLY } from '@trainer-chat/protocol/server'
import { WEBSOCKET_ACCESS_LOG_FIELDS } from './access-log.ts'
import { type ChatApiProps, stageAccessLogs, throttleRoutes } from './api-stage.ts'

export interface ChatWebSocketApiProps extends ChatApiProps<DeployedWebSocketRoute> {
  readonly stageName: string
  readonly authorizer: IFunction
}

/**
 * The chat socket: `$connect` behind a Lambda REQUEST authorizer, one Lambda per action selected
 * by `$request.body.action`, one stage with throttling and JSON access logs.
 */
export class ChatWebSocketApi extends Construct {
  readonly api: WebSocketApi
  readonly stage: WebSocketStage
  readonly routes: WebSocketRoute[] = []

  constructor(scope: Construct, id: string, props: ChatWebSocketApiProps) {
    super(scope, id)

    this.api = new WebSocketApi(this, 'Api', {
      apiName: props.apiName,
      routeSelectionExpression: '$request.body.action',
    })

    // No identity source. API Gateway treats every listed source as required and answers 401
    // without calling the authorizer when one is missing, so listing both the Authorization
    // header and the `token` query parameter would demand both. With none listed it always calls
    // the authorizer, which takes whichever is present. WebSocket authorizers have no result
    // cache, so nothing is lost; $connect's throttle bounds the cost of anonymous attempts.
    const authorizer = new WebSocketLambdaAuthorizer('TokenAuthorizer', props.authorizer, { identitySource: [] })

    for (const route of props.routes) {
      this.routes.push(
        this.api.addRoute(route.key, {
          integration: new WebSocketLambdaIntegration(`${routeId(route.key)}Integration`, props.functionFor(route.handler)),
          ...(route.key === '$connect' ? { authorizer } : {}),
        }),
      )
    }

    const ping = this.addPingRoute()

    // CDK would render `IdentitySource: []`; leave the property out entirely, which is how
    // CloudFormation spells "no identity source" for a REQUEST authorizer.
    const cfnAuthorizer = this.api.node.tryFindChild('TokenAuthorizer')?.node.defaultChild
    if (!(cfnAuthorizer instanceof CfnAuthorizer)) throw new Error('$connect authorizer was not created')
    cfnAuthorizer.addPropertyDeletionOverride('IdentitySource')

    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: props.stageName,
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: stageAccessLogs(this, WEBSOCKET_ACCESS_LOG_FIELDS, props),
    })
    throttleRoutes(this.stage, props.routes, [...this.routes, ping])

    for (const route of this.routes) {
      if (route.routeKey === '$connect') continue
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'WebSocket APIs authorize once, on $connect (Lambda authorizer); API Gateway accepts authorizers on no other route, and messages can only arrive on an authorized connection.',
      })
    }
  }

  /**
   * The heartbeat: `ping` answered `{"type":"pong"}` by API Gateway itself (a MOCK integration
   * whose integration response renders the reply, returned through a route response), so keeping
   * a connection inside the 10-minute idle timeout costs no Lambda invocation.
   */
  private addPingRoute(): CfnRoute {
    const apiId = this.api.apiId
    const integration = new CfnIntegration(this, 'PingIntegration', {
      apiId,
      integrationType: 'MOCK',
      templateSelectionExpression: '200',
      requestTemplates: { '200': '{"statusCode":200}' },
    })
    new CfnIntegrationResponse(this, 'PingIntegrationResponse', {
      apiId,
      integrationId: integration.ref,
      integrationResponseKey: '$default',
      templateSelectionExpression: '200',
      responseTemplates: { '200': PONG_REPLY },
    })
    const route = new CfnRoute(this, 'PingRoute', {
      apiId,
      routeKey: PING_ACTION,
      target: `integrations/${integration.ref}`,
      routeResponseSelectionExpression: '$default',
    })
    new CfnRouteResponse(this, 'PingRouteResponse', { apiId, routeId: route.ref, routeResponseKey: '$default' })
    Validations.of(route).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'WebSocket APIs authorize once, on $connect; ping is a MOCK answered on an already authorized connection.',
    })
    return route
  }

  /** `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`: where handlers post to connections. */
  get connectionsEndpoint(): string {
    return this.stage.callbackUrl
  }

  /**
   * Post to, read and close connections of this API's stage only (`@connections/*` is the
   * connection id, which is not known in advance).
   */
  manageConnectionsStatement(): PolicyStatement {
    const stack = Stack.of(this)
    return new PolicyStatement({
      actions: ['execute-api:ManageConnections'],
      resources: ['POST', 'GET', 'DELETE'].map((method) =>
        stack.formatArn({
          service: 'execute-api',
          resource: this.api.apiId,
          resourceName: `${this.stage.stageName}/${method}/@connections/*`,
        }),
      ),
    })
  }
}

/** `$connect` → `Connect`, `sendMessage` → `SendMessage`: stable, readable construct ids. */
function routeId(routeKey: string): string {
  const bare = routeKey.replace(/^\$/, '')
  return bare.charAt(0).toUpperCase() + bare.slice(1)
}
