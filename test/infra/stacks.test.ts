/**
 * The synthesized stacks, checked as CloudFormation. Two apps are synthesized once each for the
 * whole file: `dev` with real esbuild bundling (so a handler that does not bundle fails here), and
 * `prod` with bundling skipped (its assertions are about infrastructure only). CDK's esbuild runs
 * are served from a cache while nothing they read changed (test/helpers/cdk-esbuild-cache.ts).
 *
 *   node --import tsx --test test/infra/stacks.test.ts
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib'
import type { IConstruct } from 'constructs'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { AwsSolutionsChecks } from 'cdk-nag'
import { parseConfig } from '../../lambdas/config.ts'
import { buildTrainerChat, type TrainerChatStacks } from '../../lib/app.ts'
import { loadStageConfig } from '../../lib/config.ts'
import { FUNCTIONS, MIGRATION_HANDLER, WEBSOCKET_AUTHORIZER } from '../../lib/functions.ts'
import { cacheCdkEsbuild } from '../helpers/cdk-esbuild-cache.ts'
import { deployedHttpRoutes as httpRoutes, deployedWebSocketRoutes as webSocketRoutes } from '../../lib/routes.ts'

type Json = Record<string, any>
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Json }

function synthesize(stage: 'dev' | 'prod', bundle: boolean, overrides: Record<string, string> = {}) {
  const app = new App({
    context: { ...cdkJson.context, stage, ...overrides, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  })
  const config = loadStageConfig(app)
  const stacks = buildTrainerChat(app, config)
  // Validation plugins (cdk-nag) run here: an unacknowledged finding throws before any test runs.
  app.synth()
  return {
    app,
    config,
    stacks,
    stateful: Template.fromStack(stacks.stateful),
    stateless: Template.fromStack(stacks.stateless),
  }
}

cacheCdkEsbuild()
const dev = synthesize('dev', true)
// prod also exercises the command-line overrides: push credentials and an alarm email.
const prod = synthesize('prod', false, {
  apnsSecretName: 'trainer-chat/prod/apns',
  fcmSecretName: 'trainer-chat/prod/fcm',
  alarmEmail: 'ops@example.com',
})

const logicalId = (construct: IConstruct): string => {
  const cfn = (construct.node.defaultChild ?? construct) as CfnElement
  return Stack.of(cfn).resolve(Stack.of(cfn).getLogicalId(cfn)) as string
}
const resourcesOf = (template: Template, type: string): [string, Json][] => Object.entries(template.findResources(type))
const functionId = (stacks: TrainerChatStacks, handler: string) => {
  const fn = stacks.stateless.functions.get(handler as never)
  assert.ok(fn, `function ${handler} exists`)
  return logicalId(fn)
}
/** Template JSON with every intrinsic collapsed to a string, for "does not mention" checks. */
const text = (value: unknown) => JSON.stringify(value)

test('every declared WebSocket route exists and invokes its own function', () => {
  const { stateless, stacks } = dev
  stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
    ProtocolType: 'WEBSOCKET',
    RouteSelectionExpression: '$request.body.action',
  })
  const routes = resourcesOf(stateless, 'AWS::ApiGatewayV2::Route')
  const integrations = stateless.findResources('AWS::ApiGatewayV2::Integration')
  for (const route of webSocketRoutes()) {
    const found = routes.find(([, r]) => r.Properties.RouteKey === route.key)
    assert.ok(found, `route ${route.key}`)
    const target: string = found[1].Properties.Target['Fn::Join'][1][1].Ref
    const uri = text(integrations[target]?.Properties.IntegrationUri)
    assert.match(uri, new RegExp(`"${functionId(stacks, route.handler)}"`), `${route.key} → ${route.handler}`)
  }
})

test('$connect is guarded by the Lambda REQUEST authorizer with no identity source; other routes cannot be', () => {
  const { stateless, stacks } = dev
  const [[authorizerId, authorizer]] = resourcesOf(stateless, 'AWS::ApiGatewayV2::Authorizer').filter(
    ([, a]) => a.Properties.AuthorizerType === 'REQUEST',
  ) as [[string, Json]]
  assert.equal(authorizer.Properties.IdentitySource, undefined, 'header OR ?token= needs no identity source')
  assert.match(text(authorizer.Properties.AuthorizerUri), new RegExp(functionId(stacks, WEBSOCKET_AUTHORIZER)))

  for (const [, route] of resourcesOf(stateless, 'AWS::ApiGatewayV2::Route')) {
    if (route.Properties.ApiId.Ref !== logicalId(stacks.stateless.webSocket.api)) continue
    if (route.Properties.RouteKey === '$connect') {
      assert.equal(route.Properties.AuthorizationType, 'CUSTOM')
      assert.deepEqual(route.Properties.AuthorizerId, { Ref: authorizerId })
    } else {
      assert.notEqual(route.Properties.AuthorizationType, 'CUSTOM', route.Properties.RouteKey)
    }
  }
})

test('every HTTP route exists; health and OpenAPI are open, the rest need a Cognito JWT', () => {
  const { stateless, stacks } = dev
  const httpApi = logicalId(stacks.stateless.http.api)
  const routes = resourcesOf(stateless, 'AWS::ApiGatewayV2::Route').filter(([, r]) => r.Properties.ApiId.Ref === httpApi)
  assert.equal(routes.length, httpRoutes().length)
  const [[jwtId, jwt]] = resourcesOf(stateless, 'AWS::ApiGatewayV2::Authorizer').filter(
    ([, a]) => a.Properties.AuthorizerType === 'JWT',
  ) as [[string, Json]]
  assert.deepEqual(jwt.Properties.IdentitySource, ['$request.header.Authorization'])
  assert.match(text(jwt.Properties.JwtConfiguration.Issuer), /https:\/\/cognito-idp\./)
  // The mobile apps' client and the console's.
  const [mobile, consoleClient, ...more] = jwt.Properties.JwtConfiguration.Audience
  assert.match(text(mobile), /MobileClient/)
  assert.deepEqual(consoleClient, { Ref: logicalId(stacks.stateless.console.client) })
  assert.deepEqual(more, [])

  const integrations = stateless.findResources('AWS::ApiGatewayV2::Integration')
  for (const route of httpRoutes()) {
    const found = routes.find(([, r]) => r.Properties.RouteKey === route.key)
    assert.ok(found, route.key)
    const properties = found[1].Properties
    if (route.access === 'public') {
      assert.equal(properties.AuthorizationType, 'NONE', `${route.key} is public`)
    } else {
      assert.equal(properties.AuthorizationType, 'JWT', `${route.key} needs a JWT`)
      assert.deepEqual(properties.AuthorizerId, { Ref: jwtId })
    }
    const integration = integrations[properties.Target['Fn::Join'][1][1].Ref]
    assert.equal(integration?.Properties.PayloadFormatVersion, '2.0')
    const expected = route.path.startsWith('/admin/') ? 'http-admin' : 'http-app'
    assert.match(text(integration?.Properties.IntegrationUri), new RegExp(functionId(stacks, expected)), route.key)
  }
})

test('CORS on the HTTP API and the bucket comes from the stage configuration, plus the console on the API', () => {
  const consoleOrigin = (stacks: TrainerChatStacks) => stacks.stateless.resolve(stacks.stateless.console.origin)
  dev.stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
    ProtocolType: 'HTTP',
    CorsConfiguration: Match.objectLike({ AllowOrigins: [...dev.config.corsOrigins, consoleOrigin(dev.stacks)] }),
  })
  dev.stateful.hasResourceProperties('AWS::S3::Bucket', {
    CorsConfiguration: { CorsRules: [Match.objectLike({ AllowedOrigins: dev.config.corsOrigins, AllowedMethods: Match.arrayWith(['PUT']) })] },
  })
  assert.deepEqual(prod.config.corsOrigins, [])
  prod.stateless.hasResourceProperties('AWS::ApiGatewayV2::Api', {
    ProtocolType: 'HTTP',
    CorsConfiguration: Match.objectLike({ AllowOrigins: [consoleOrigin(prod.stacks)] }),
  })
})

test('both stages throttle by default and hot routes have their own limits', () => {
  const { stateless, config } = dev
  const stages = resourcesOf(stateless, 'AWS::ApiGatewayV2::Stage').map(([, s]) => s.Properties)
  const ws = stages.find((s) => s.StageName === config.stage)
  const http = stages.find((s) => s.StageName === '$default')
  assert.deepEqual(ws?.DefaultRouteSettings, {
    ThrottlingRateLimit: config.throttling.webSocket.rateLimit,
    ThrottlingBurstLimit: config.throttling.webSocket.burstLimit,
  })
  assert.deepEqual(ws?.RouteSettings.$connect, { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 })
  assert.deepEqual(ws?.RouteSettings.typing, { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 })
  assert.deepEqual(http?.DefaultRouteSettings, {
    ThrottlingRateLimit: config.throttling.http.rateLimit,
    ThrottlingBurstLimit: config.throttling.http.burstLimit,
  })
  assert.deepEqual(http?.RouteSettings['POST /conversations/{id}/attachments'], { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })
  assert.deepEqual(http?.RouteSettings['PUT /admin/users/{id}/role'], { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 })
})

test('access logs are JSON and never include the query string, the path or headers', () => {
  const stages = resourcesOf(dev.stateless, 'AWS::ApiGatewayV2::Stage')
  assert.equal(stages.length, 2)
  for (const [id, stage] of stages) {
    const format: string = stage.Properties.AccessLogSettings.Format
    const fields = JSON.parse(format) as Record<string, string>
    assert.equal(fields.requestId, '$context.requestId', id)
    assert.equal(fields.routeKey, '$context.routeKey', id)
    assert.doesNotMatch(format, /query|\$request\.|\$context\.path|requestOverride|header/i, id)
  }
})

test('functions may manage connections of this WebSocket API and stage only', () => {
  const { stateless, stacks, config } = dev
  const api = logicalId(stacks.stateless.webSocket.api)
  const statements = resourcesOf(stateless, 'AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
  const manage = statements.filter((s) => [s.Action].flat().includes('execute-api:ManageConnections'))
  assert.equal(manage.length, 1)
  const resources = [manage[0]!.Resource].flat().map((r) => text(r))
  assert.equal(resources.length, 3)
  for (const [resource, method] of resources.map((r, i) => [r, ['DELETE', 'GET', 'POST'][i]] as const)) {
    assert.match(resource, new RegExp(`"${api}"`))
    assert.match(resource, new RegExp(`/${config.stage}/${method}/@connections/\\*`))
  }
  for (const statement of statements) {
    if ([statement.Action].flat().some((action: string) => action.startsWith('execute-api:'))) {
      assert.notEqual(statement.Resource, '*')
    }
  }
})

test('only the attachment functions reach the bucket, and only objects under conversations/', () => {
  const { stateful, stateless, stacks } = dev
  const [[policyId, policy]] = resourcesOf(stateful, 'AWS::IAM::ManagedPolicy') as [[string, Json]]
  const [statement] = policy.Properties.PolicyDocument.Statement as Json[]
  assert.deepEqual([...statement!.Action].sort(), ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'])
  const bucket = logicalId(stacks.stateful.attachments.bucket)
  const resources = [statement!.Resource].flat().map(text)
  assert.equal(resources.length, 1)
  assert.match(resources[0]!, new RegExp(`"${bucket}".*"/conversations/\\*"`))

  const roles = resourcesOf(stateless, 'AWS::IAM::Role').filter(([, r]) => text(r.Properties.ManagedPolicyArns).includes(policyId))
  const roleIds = roles.map(([id]) => id).sort()
  // joinConversation signs the download URLs of the history it answers with, so it reaches the bucket
  // too; editMessage those of the edited message it sends; the admin API's erasure deletes a user's objects.
  const expected = ['http-app', 'ws-send-message', 'ws-join-conversation', 'ws-edit-message', 'attachments-sweep', 'http-admin']
    .map((h) => logicalId(stacks.stateless.functions.get(h as never)!.role!))
    .sort()
  assert.deepEqual(roleIds, expected)
  const everyStatement = [...resourcesOf(stateless, 'AWS::IAM::Policy'), ...resourcesOf(stateful, 'AWS::IAM::ManagedPolicy')]
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
  assert.ok(!everyStatement.some((s) => [s.Action].flat().some((a: string) => a === 's3:*' || a === '*')), 'no s3:* grants')
})

test('the attachments bucket is private, encrypted, TLS-only, logged, and unreferenced uploads are swept hourly', () => {
  const { stateful, stateless, stacks } = dev
  stateful.hasResourceProperties('AWS::S3::Bucket', {
    BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
    LifecycleConfiguration: {
      Rules: [Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' })],
    },
  })
  // S3 cannot tell a referenced object from an unreferenced one under the same prefix; the
  // database can, so the sweep function deletes never-referenced uploads.
  stateless.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: 'rate(1 hour)',
    Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(stacks, 'attachments-sweep'), 'Arn'] }, RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) })],
  })
  const policies = resourcesOf(stateful, 'AWS::S3::BucketPolicy')
  assert.equal(policies.length, 2, 'attachments and access-log buckets')
  for (const [id, policy] of policies) {
    const statements = policy.Properties.PolicyDocument.Statement as Json[]
    assert.ok(
      statements.some((s) => s.Effect === 'Deny' && s.Action === 's3:*' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'),
      `${id} denies plain HTTP`,
    )
    assert.ok(!statements.some((s) => s.Effect === 'Allow' && text(s.Principal) === '{"AWS":"*"}'), `${id} grants nobody-in-particular nothing`)
  }
})

test('PostgreSQL is encrypted, backed up and reached only through RDS Proxy with TLS and IAM auth', () => {
  const { stateful } = dev
  stateful.hasResourceProperties('AWS::RDS::DBInstance', {
    Engine: 'postgres',
    EngineVersion: Match.stringLikeRegexp('^1[6-8]'),
    StorageEncrypted: true,
    PubliclyAccessible: false,
    BackupRetentionPeriod: Match.anyValue(),
    MasterUserPassword: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['{{resolve:secretsmanager:'])]) }),
  })
  stateful.hasResourceProperties('AWS::RDS::DBProxy', {
    EngineFamily: 'POSTGRESQL',
    RequireTLS: true,
    Auth: [Match.objectLike({ AuthScheme: 'SECRETS', IAMAuth: 'REQUIRED' })],
  })
  stateful.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1)
})

test('functions connect to the proxy with IAM tokens over TLS', () => {
  const { stateless, stacks } = dev
  const withDatabase = FUNCTIONS.filter((spec) => (spec.capabilities as readonly string[]).includes('database'))
  for (const spec of withDatabase) {
    const fn = stateless.findResources('AWS::Lambda::Function')[functionId(stacks, spec.handler)]
    const env = fn?.Properties.Environment.Variables
    assert.equal(env.DB_IAM_AUTH, 'true', spec.handler)
    assert.equal(env.DB_SSL, 'true', spec.handler)
    assert.equal(env.DB_PORT, '5432', spec.handler)
    assert.match(text(env.DB_HOST), /DatabaseInstanceProxy.*Endpoint/, spec.handler)
  }
  const connect = resourcesOf(stateless, 'AWS::IAM::Policy')
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[])
    .filter((s) => s.Action === 'rds-db:connect')
  assert.equal(connect.length, withDatabase.length, 'every function with the database capability')
  for (const statement of connect) assert.match(text(statement.Resource), /:dbuser:.*\/trainer_chat"/)
})

test('migrations run in the deployment before any API, route or handler that needs them', () => {
  const { stateless, stacks } = dev
  const [[triggerId, trigger]] = resourcesOf(stateless, 'Custom::Trigger') as [[string, Json]]
  assert.equal(trigger.Properties.InvocationType, 'RequestResponse', 'a failed migration fails the deployment')
  const migrate = stacks.stateless.functions.get(MIGRATION_HANDLER)!
  // The version's logical id gets a code hash appended, so a new bundle means a new invocation.
  assert.ok(String(trigger.Properties.HandlerArn.Ref).startsWith(logicalId(migrate.currentVersion)))

  const dependsOnTrigger = (resource: Json) => [resource.DependsOn ?? []].flat().includes(triggerId)
  for (const type of ['AWS::ApiGatewayV2::Stage', 'AWS::ApiGatewayV2::Route', 'AWS::ApiGatewayV2::Integration', 'AWS::ApiGatewayV2::Api']) {
    for (const [id, resource] of resourcesOf(stateless, type)) assert.ok(dependsOnTrigger(resource), `${type} ${id} waits for migrations`)
  }
  const functions = stateless.findResources('AWS::Lambda::Function')
  for (const spec of FUNCTIONS) {
    const fn = functions[functionId(stacks, spec.handler)]
    assert.equal(dependsOnTrigger(fn!), spec.handler !== MIGRATION_HANDLER, spec.handler)
  }
})

test('every function: Node.js 22 on arm64, JSON logs with a retention, in the VPC unless it must not be', () => {
  const { stateless, stacks, config } = dev
  const functions = stateless.findResources('AWS::Lambda::Function')
  const logGroups = stateless.findResources('AWS::Logs::LogGroup')
  for (const spec of FUNCTIONS) {
    const fn = functions[functionId(stacks, spec.handler)]!.Properties
    assert.equal(fn.Runtime, 'nodejs22.x', spec.handler)
    assert.deepEqual(fn.Architectures, ['arm64'], spec.handler)
    assert.equal(fn.Handler, 'index.handler', spec.handler)
    assert.equal(fn.LoggingConfig.LogFormat, 'JSON', spec.handler)
    assert.equal(fn.Environment.Variables.NODE_OPTIONS, config.functions.sourceMapStackTraces ? '--enable-source-maps' : undefined)
    const logGroup = logGroups[fn.LoggingConfig.LogGroup.Ref]
    assert.equal(logGroup?.Properties.RetentionInDays, config.functions.logRetentionDays, spec.handler)
    assert.equal(fn.VpcConfig === undefined, spec.handler === WEBSOCKET_AUTHORIZER, `${spec.handler} VPC placement`)
  }
})

test("each function's environment is accepted by the Lambda config schema (lambdas/config.ts)", () => {
  const { stateless, stacks } = dev
  const functions = stateless.findResources('AWS::Lambda::Function')
  for (const spec of FUNCTIONS) {
    const variables = functions[functionId(stacks, spec.handler)]!.Properties.Environment.Variables as Json
    // Deploy-time values (ARNs, endpoints) become placeholders; what matters is names and literal values.
    const env = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : `resolved-${k}`]))
    const parsed = parseConfig(env)
    if (spec.capabilities.some((c) => c === 'database')) {
      assert.equal(parsed.database.iamAuth, true, spec.handler)
      assert.equal(parsed.database.ssl, true, spec.handler)
      assert.equal(parsed.database.host, 'resolved-DB_HOST', spec.handler)
    }
    if (spec.capabilities.some((c) => c === 'jwt')) {
      assert.equal(parsed.jwt.tokenUse, 'id', spec.handler)
      assert.equal(parsed.jwt.issuer, 'resolved-JWT_ISSUER', spec.handler)
    }
    if (spec.capabilities.some((c) => c === 'connections')) {
      assert.equal(parsed.connectionsEndpoint, 'resolved-CONNECTIONS_ENDPOINT', spec.handler)
    }
  }
  const connectionsEndpoint = text(functions[functionId(stacks, 'ws-send-message')]!.Properties.Environment.Variables.CONNECTIONS_ENDPOINT)
  assert.match(connectionsEndpoint, /"https:\/\/".*WebSocketApi.*\.execute-api\..*\/dev"/)
})

test("the stage's message rules (cdk.json messages) reach exactly the functions that enforce them", () => {
  const { stateless, stacks, config } = dev
  const functions = stateless.findResources('AWS::Lambda::Function')
  for (const spec of FUNCTIONS) {
    const variables = functions[functionId(stacks, spec.handler)]!.Properties.Environment.Variables as Json
    if ((spec.capabilities as readonly string[]).includes('messageRules')) {
      const parsed = parseConfig({ MESSAGE_EDIT_WINDOW_SECONDS: variables.MESSAGE_EDIT_WINDOW_SECONDS, REACTION_EMOJI: variables.REACTION_EMOJI })
      assert.equal(typeof variables.REACTION_EMOJI, 'string', spec.handler)
      assert.equal(parsed.messages.editWindowSeconds, config.messages.editWindowSeconds, spec.handler)
      assert.deepEqual(parsed.messages.reactionEmoji, config.messages.reactionEmoji, spec.handler)
    } else {
      assert.equal(variables.MESSAGE_EDIT_WINDOW_SECONDS, undefined, spec.handler)
      assert.equal(variables.REACTION_EMOJI, undefined, spec.handler)
    }
  }
})

test('functions reach only HTTPS and the proxy; no execute-api interface endpoint hides the public management API', () => {
  const { stateful, stacks } = dev
  const functionSg = logicalId(stacks.stateful.network.functionSecurityGroup)
  const sg = stateful.findResources('AWS::EC2::SecurityGroup')[functionSg]!
  const egress = (sg.Properties.SecurityGroupEgress as Json[]).map(({ CidrIp, FromPort, ToPort, IpProtocol }) => ({ CidrIp, FromPort, ToPort, IpProtocol }))
  assert.deepEqual(egress, [{ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }])
  stateful.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
    GroupId: { 'Fn::GetAtt': [functionSg, 'GroupId'] },
    FromPort: 5432,
    ToPort: 5432,
  })
  for (const [, endpoint] of resourcesOf(stateful, 'AWS::EC2::VPCEndpoint')) {
    assert.doesNotMatch(text(endpoint.Properties.ServiceName), /execute-api/)
  }
  stateful.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' })
})

test('alarms cover function errors and throttles, both APIs, and the database, and notify the topic', () => {
  const { stateless } = dev
  const alarms = resourcesOf(stateless, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties)
  const metricNames = alarms.map((a) => a.MetricName ?? a.Metrics?.map((m: Json) => m.MetricStat?.Metric.MetricName).join('+'))
  const apiFunctions = FUNCTIONS.filter((f) => f.handler !== MIGRATION_HANDLER).length
  assert.equal(metricNames.filter((n) => n === 'Errors').length, apiFunctions)
  assert.equal(metricNames.filter((n) => n === 'Throttles').length, apiFunctions)
  for (const name of ['5xx', 'IntegrationLatency', 'CPUUtilization', 'FreeStorageSpace', 'DatabaseConnections']) {
    assert.ok(metricNames.includes(name), `alarm on ${name}`)
  }
  assert.ok(metricNames.some((n) => n?.includes('ExecutionError') && n.includes('IntegrationError')), 'WebSocket server errors')
  for (const alarm of alarms) assert.equal(alarm.AlarmActions.length, 1)
  stateless.resourceCountIs('AWS::CloudWatch::Dashboard', 1)
  stateless.resourceCountIs('AWS::SNS::Subscription', 0)
  prod.stateless.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' })
})

test('without push credentials there is no platform application and no PUSH_* variable', () => {
  dev.stateless.resourceCountIs('Custom::SnsPlatformApplication', 0)
  for (const [, fn] of resourcesOf(dev.stateless, 'AWS::Lambda::Function')) {
    assert.doesNotMatch(text(fn.Properties.Environment ?? {}), /PUSH_/)
  }
})

test('with push credentials: APNs and FCM applications, their ARNs in env, endpoint grants scoped to them', () => {
  const { stateless, stacks } = prod
  stateless.hasResourceProperties('Custom::SnsPlatformApplication', { Platform: 'APNS', Name: 'trainer-chat-prod-apns', SecretName: 'trainer-chat/prod/apns' })
  stateless.hasResourceProperties('Custom::SnsPlatformApplication', { Platform: 'GCM', Name: 'trainer-chat-prod-fcm', SecretName: 'trainer-chat/prod/fcm' })
  const functions = stateless.findResources('AWS::Lambda::Function')
  for (const spec of FUNCTIONS) {
    const env = functions[functionId(stacks, spec.handler)]!.Properties.Environment.Variables
    const hasPush = spec.capabilities.some((c) => c === 'push')
    assert.equal(env.PUSH_APNS_PLATFORM_APPLICATION_ARN !== undefined, hasPush, spec.handler)
    assert.equal(env.PUSH_GCM_PLATFORM_APPLICATION_ARN !== undefined, hasPush, spec.handler)
  }
  const [[, policy]] = resourcesOf(stateless, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('PushEndpointsPolicy')) as [[string, Json]]
  const statements = policy.Properties.PolicyDocument.Statement as Json[]
  const create = statements.find((s) => s.Action === 'sns:CreatePlatformEndpoint')
  assert.equal(create?.Resource.length, 2)
  assert.match(text(create?.Resource), /SnsPlatformApplication|Application.*Arn/)
  const endpoints = statements.find((s) => [s.Action].flat().includes('sns:Publish'))
  assert.deepEqual([...endpoints!.Action].sort(), ['sns:DeleteEndpoint', 'sns:GetEndpointAttributes', 'sns:Publish', 'sns:SetEndpointAttributes'])
  assert.match(text(endpoints!.Resource), /:endpoint\/APNS\/trainer-chat-prod-apns\/\*/)
  assert.match(text(endpoints!.Resource), /:endpoint\/GCM\/trainer-chat-prod-fcm\/\*/)
  const roles = (policy.Properties.Roles as Json[]).map((r) => r.Ref).sort()
  // Erasure deletes a user's endpoints: the admin API, and the sweep that retries what failed.
  const expected = ['http-app', 'ws-send-message', 'http-admin', 'attachments-sweep'].map((h) => logicalId(stacks.stateless.functions.get(h as never)!.role!)).sort()
  assert.deepEqual(roles, expected)
})

test('prod keeps its data: Multi-AZ, deletion protection, snapshots, retained bucket and user pool', () => {
  const { stateful, stacks } = prod
  assert.equal(stacks.stateful.terminationProtection, true)
  stateful.hasResource('AWS::RDS::DBInstance', {
    Properties: Match.objectLike({ MultiAZ: true, DeletionProtection: true, DeleteAutomatedBackups: false }),
    DeletionPolicy: 'Snapshot',
  })
  stateful.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ LoggingConfiguration: Match.anyValue() }) })
  stateful.hasResource('AWS::Cognito::UserPool', {
    DeletionPolicy: 'Retain',
    Properties: Match.objectLike({
      DeletionProtection: 'ACTIVE',
      UserPoolTier: 'PLUS',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
    }),
  })
  stateful.resourceCountIs('AWS::EC2::NatGateway', 2)
  stateful.resourceCountIs('Custom::S3AutoDeleteObjects', 0)
})

test('dev is disposable: no deletion protection, objects auto-deleted, single NAT', () => {
  const { stateful } = dev
  stateful.hasResource('AWS::RDS::DBInstance', { Properties: Match.objectLike({ MultiAZ: false, DeletionProtection: false }), DeletionPolicy: 'Delete' })
  stateful.resourceCountIs('AWS::EC2::NatGateway', 1)
})

test('the user pool: email sign-in, strong passwords, optional TOTP, admin and trainer groups, public SRP client', () => {
  const { stateful } = dev
  stateful.hasResourceProperties('AWS::Cognito::UserPool', {
    UsernameAttributes: ['email'],
    MfaConfiguration: 'OPTIONAL',
    EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
    Policies: { PasswordPolicy: Match.objectLike({ MinimumLength: 12, RequireSymbols: true, RequireNumbers: true, RequireUppercase: true }) },
  })
  stateful.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: 'admin' })
  stateful.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: 'trainer' })
  stateful.hasResourceProperties('AWS::Cognito::UserPoolClient', {
    GenerateSecret: false,
    ExplicitAuthFlows: Match.arrayWith(['ALLOW_USER_SRP_AUTH']),
    PreventUserExistenceErrors: 'ENABLED',
  })
})

test('outputs give a mobile app everything it needs', () => {
  for (const name of ['UserPoolId', 'UserPoolClientId', 'AttachmentsBucketName', 'Region']) dev.stateful.hasOutput(name, {})
  for (const name of ['WebSocketUrl', 'HttpApiUrl']) dev.stateless.hasOutput(name, {})
})

for (const [stage, synthesized] of [['dev', dev], ['prod', prod]] as const) {
  test(`cdk-nag AwsSolutions: no unacknowledged finding in ${stage}, every acknowledgement has a reason`, () => {
    const report = new AwsSolutionsChecks().validateScope(synthesized.app)
    const findings = report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)
    assert.deepEqual(findings, [])
    assert.equal(report.success, true)

    const acknowledgements = synthesized.app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => id.includes('AwsSolutions-'))
    assert.ok(acknowledgements.length > 0)
    for (const [id, reason] of acknowledgements) {
      assert.match(id, /AwsSolutions-[A-Z]+\d+/, id)
      assert.ok(typeof reason === 'string' && reason.length >= 40, `${id} has a real reason`)
    }
  })
}

test('ping is answered by API Gateway itself: a MOCK integration whose response is the pong frame, returned by a route response', () => {
  const { stateless } = dev
  const [[routeId, route]] = resourcesOf(stateless, 'AWS::ApiGatewayV2::Route').filter(([, r]) => r.Properties.RouteKey === 'ping') as [[string, Json]]
  const integrationId: string = route.Properties.Target['Fn::Join'][1][1].Ref
  const integration = stateless.findResources('AWS::ApiGatewayV2::Integration')[integrationId] as Json
  assert.equal(integration.Properties.IntegrationType, 'MOCK')
  assert.equal(integration.Properties.IntegrationUri, undefined, 'no Lambda behind ping')
  assert.equal(route.Properties.RouteResponseSelectionExpression, '$default')
  stateless.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', { RouteId: { Ref: routeId }, RouteResponseKey: '$default' })
  stateless.hasResourceProperties('AWS::ApiGatewayV2::IntegrationResponse', {
    IntegrationId: { Ref: integrationId },
    IntegrationResponseKey: '$default',
    ResponseTemplates: { '200': '{"type":"pong"}' },
  })
})
