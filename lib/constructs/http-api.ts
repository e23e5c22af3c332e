import { Duration, Validations } from 'aws-cdk-lib'
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  HttpStage,
} from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import type { IUserPool, IUserPoolClient } from 'aws-cdk-lib/aws-cognito'
import { Construct } from 'constructs'
import type { HandlerName } from '../functions.ts'
import type { DeployedHttpRoute } from '../routes.ts'
import { HTTP_ACCESS_LOG_FIELDS } from './access-log.ts'
import { type ChatApiProps, stageAccessLogs, throttleRoutes } from './api-stage.ts'

export interface ChatHttpApiProps extends ChatApiProps<DeployedHttpRoute> {
  readonly userPool: IUserPool
  /** The app clients whose tokens the JWT authorizer accepts (the mobile apps', the console's). */
  readonly userPoolClients: readonly IUserPoolClient[]
  readonly corsOrigins: readonly string[]
}

/**
 * REST routes for the apps and the admin console on an HTTP API (payload format 2.0). Cognito's
 * JWT authorizer checks signature, issuer, audience (the mobile client id) and expiry before a
 * Lambda runs. Admin routes use the same authorizer and are role-checked by their handler against
 * the database (docs/deploy.md, "Admin routes", explains why not at the gateway).
 */
export class ChatHttpApi extends Construct {
  readonly api: HttpApi
  readonly stage: HttpStage
  readonly routes: HttpRoute[] = []

  constructor(scope: Construct, id: string, props: ChatHttpApiProps) {
    super(scope, id)

    this.api = new HttpApi(this, 'Api', {
      apiName: props.apiName,
      createDefaultStage: false,
      ...(props.corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...props.corsOrigins],
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.DELETE],
              allowHeaders: ['authorization', 'content-type'],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    })

    const jwt = new HttpUserPoolAuthorizer('CognitoJwt', props.userPool, { userPoolClients: [...props.userPoolClients] })
    const open = new HttpNoneAuthorizer()
    // One integration per function: http-app serves every app route and dispatches on routeKey.
    const integrations = new Map<HandlerName, HttpLambdaIntegration>()
    const integrationFor = (handler: HandlerName) => {
      let integration = integrations.get(handler)
      if (!integration) {
        integration = new HttpLambdaIntegration(`${handler}-integration`, props.functionFor(handler), {
          scopePermissionToRoute: false,
        })
        integrations.set(handler, integration)
      }
      return integration
    }

    for (const route of props.routes) {
      const [added] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: integrationFor(route.handler),
        authorizer: route.access === 'public' ? open : jwt,
      })
      if (!added) throw new Error(`HTTP route ${route.key} was not created`)
      this.routes.push(added)
      if (route.access === 'public') {
        if (!route.publicBecause) throw new Error(`Public route ${route.key} must say why it is public (publicBecause)`)
        Validations.of(added).acknowledge({ id: 'AwsSolutions-APIG4', reason: route.publicBecause })
      }
    }

    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: stageAccessLogs(this, HTTP_ACCESS_LOG_FIELDS, props),
    })
    throttleRoutes(this.stage, props.routes, this.routes)
  }

  /** `https://{apiId}.execute-api.{region}.amazonaws.com` (the `$default` stage has no path prefix). */
  get url(): string {
    return this.api.apiEndpoint
  }
}
