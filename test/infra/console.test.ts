/**
 * The moderation console's hosting and sign-in, checked as CloudFormation (lib/constructs/console-site.ts).
 * Synthesized once with bundling skipped (the console build itself is exercised by stacks.test.ts'
 * dev synth and by test/console): this file is about what gets deployed around it.
 *
 *   node --import tsx --test test/infra/console.test.ts
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { App, Stack, type CfnElement } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import type { IConstruct } from 'constructs'
import { buildTrainerChat } from '../../lib/app.ts'
import { loadStageConfig } from '../../lib/config.ts'

type Json = Record<string, any>
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Json }
const app = new App({ context: { ...cdkJson.context, stage: 'prod', 'aws:cdk:bundling-stacks': [] } })
const stacks = buildTrainerChat(app, loadStageConfig(app))
app.synth()
const template = Template.fromStack(stacks.stateless)
const site = stacks.stateless.console
const ref = (construct: IConstruct) => {
  const cfn = (construct.node.defaultChild ?? construct) as CfnElement
  return { Ref: Stack.of(cfn).resolve(Stack.of(cfn).getLogicalId(cfn)) as string }
}
const text = (value: unknown) => JSON.stringify(value)
const only = (type: string): Json => {
  const found = Object.values(template.findResources(type))
  assert.equal(found.length, 1, `one ${type}`)
  return found[0] as Json
}

test('the console bucket is private, encrypted and TLS-only; only the distribution may read it (OAC)', () => {
  template.hasResourceProperties('AWS::S3::Bucket', {
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    BucketEncryption: Match.objectLike({}),
    OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
  })
  const oac = only('AWS::CloudFront::OriginAccessControl')
  assert.equal(oac.Properties.OriginAccessControlConfig.SigningBehavior, 'always')
  assert.equal(oac.Properties.OriginAccessControlConfig.OriginAccessControlOriginType, 's3')

  const policy = Object.values(template.findResources('AWS::S3::BucketPolicy')).find((p) => text(p.Properties.Bucket) === text(ref(site.bucket))) as Json
  const statements = policy.Properties.PolicyDocument.Statement as Json[]
  const reads = statements.filter((s) => s.Effect === 'Allow')
  assert.ok(reads.length > 0)
  for (const statement of reads) {
    // CloudFront reads (GetObject); the auto-delete custom resource may list and delete on stack deletion.
    const principal = text(statement.Principal)
    assert.ok(principal.includes('cloudfront.amazonaws.com') || principal.includes('CustomS3AutoDeleteObjects'), principal)
    if (principal.includes('cloudfront.amazonaws.com')) {
      assert.equal(statement.Action, 's3:GetObject')
      assert.match(text(statement.Condition), /AWS:SourceArn/)
    }
  }
  assert.ok(statements.some((s) => s.Effect === 'Deny' && text(s.Condition).includes('aws:SecureTransport')), 'TLS-only')
})

test('the distribution: HTTPS only, security headers with a CSP, SPA fallback to index.html, / redirects to /console/', () => {
  const distribution = only('AWS::CloudFront::Distribution').Properties.DistributionConfig
  assert.equal(distribution.DefaultCacheBehavior.ViewerProtocolPolicy, 'redirect-to-https')
  assert.deepEqual(
    distribution.CustomErrorResponses.map((r: Json) => [r.ErrorCode, r.ResponseCode, r.ResponsePagePath]),
    [
      [403, 200, '/console/index.html'],
      [404, 200, '/console/index.html'],
    ],
  )
  assert.equal(distribution.DefaultCacheBehavior.FunctionAssociations[0].EventType, 'viewer-request')
  assert.match(only('AWS::CloudFront::Function').Properties.FunctionCode, /location: \{ value: '\/console\/' \}/)

  const headers = only('AWS::CloudFront::ResponseHeadersPolicy').Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig
  const csp = text(headers.ContentSecurityPolicy.ContentSecurityPolicy)
  for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", 'connect-src']) {
    assert.ok(csp.includes(directive), `CSP has ${directive}`)
  }
  assert.ok(!/script-src[^;]*unsafe/.test(csp), 'no unsafe script sources')
  assert.match(csp, /execute-api/)
  assert.match(csp, /cognito-idp/)
  assert.equal(headers.StrictTransportSecurity.AccessControlMaxAgeSec, 31536000)
  assert.equal(headers.FrameOptions.FrameOption, 'DENY')
  assert.equal(headers.ContentTypeOptions.Override, true)
  assert.equal(headers.ReferrerPolicy.ReferrerPolicy, 'strict-origin-when-cross-origin')
  assert.deepEqual(distribution.DefaultCacheBehavior.ResponseHeadersPolicyId, { Ref: Object.keys(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'))[0] })
})

test('a hosted-UI domain and a public console client: code grant with PKCE scopes, no secret, URLs on the distribution only', () => {
  template.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: Match.anyValue() })
  const client = Object.values(template.findResources('AWS::Cognito::UserPoolClient'))
  assert.equal(client.length, 1, 'the console client lives in the stateless stack (its URLs name the distribution)')
  const properties = (client[0] as Json).Properties
  assert.equal(properties.GenerateSecret, false)
  assert.deepEqual(properties.AllowedOAuthFlows, ['code'])
  assert.equal(properties.AllowedOAuthFlowsUserPoolClient, true)
  assert.deepEqual([...properties.AllowedOAuthScopes].sort(), ['email', 'openid', 'profile'])
  assert.deepEqual(properties.SupportedIdentityProviders, ['COGNITO'])
  assert.equal(properties.EnableTokenRevocation, true)
  const domain = text({ 'Fn::GetAtt': [ref(site.distribution).Ref, 'DomainName'] })
  for (const [urls, path] of [[properties.CallbackURLs, '/console/auth-callback'], [properties.LogoutURLs, '/console/']] as const) {
    assert.equal(urls.length, 1)
    assert.ok(text(urls[0]).includes(domain) && text(urls[0]).includes(path), text(urls[0]))
    assert.match(text(urls[0]), /https:\/\//)
  }
})

test('the build and a config.json pointing at this API, user pool and client are deployed, and the entry files invalidated', () => {
  const deployment = Object.values(template.findResources('Custom::CDKBucketDeployment'))[0] as Json
  assert.ok(deployment, 'a bucket deployment')
  assert.equal(deployment.Properties.DestinationBucketKeyPrefix, 'console/')
  assert.deepEqual(deployment.Properties.DistributionPaths, ['/console/index.html', '/console/config.json'])
  const markers = text(deployment.Properties.SourceMarkers)
  // The JSON's literal parts are in the asset; its deploy-time values are these markers.
  for (const piece of [ref(stacks.stateless.http.api).Ref, 'AuthUserPool', ref(site.domain).Ref, ref(site.client).Ref]) {
    assert.ok(markers.includes(piece), `config.json carries ${piece}`)
  }
  template.hasOutput('ConsoleUrl', { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) })
})
