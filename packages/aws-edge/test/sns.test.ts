import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { AwsJson1_0Protocol } from '@aws-sdk/core/protocols'
import {
  CreatePlatformApplicationCommand,
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  GetEndpointAttributesCommand,
  GetPlatformApplicationAttributesCommand,
  ListPlatformApplicationsCommand,
  PublishCommand,
  SetEndpointAttributesCommand,
  type SNSClient,
} from '@aws-sdk/client-sns'
import { credentials, expectServiceError, rawRequest, snsClient, startEdgeFixture, xmlCode, type EdgeFixture } from './support.ts'

const APNS_PAYLOAD = JSON.stringify({
  default: 'New message from your trainer',
  APNS: JSON.stringify({ aps: { alert: 'New message from your trainer' }, conversationId: 'c-1' }),
})

describe('SNS mobile push on the AWS edge', () => {
  let fixture: EdgeFixture
  let sns: SNSClient
  let applicationArn: string

  before(async () => {
    fixture = await startEdgeFixture()
    sns = snsClient(fixture.edge)
    const created = await sns.send(
      new CreatePlatformApplicationCommand({ Name: 'trainer-chat-ios', Platform: 'APNS', Attributes: { PlatformCredential: 'key', PlatformPrincipal: 'cert' } }),
    )
    applicationArn = created.PlatformApplicationArn ?? ''
  })

  after(async () => {
    sns.destroy()
    await fixture.dispose()
  })

  beforeEach(async () => {
    await fetch(`${fixture.edge.url}/_aws/sns/platform-endpoint-messages`, { method: 'DELETE' })
  })

  async function createEndpoint(token: string, customUserData?: string): Promise<string> {
    const created = await sns.send(new CreatePlatformEndpointCommand({ PlatformApplicationArn: applicationArn, Token: token, CustomUserData: customUserData }))
    assert.ok(created.EndpointArn)
    return created.EndpointArn
  }

  test('a platform application gets an AWS-shaped ARN and hides its credentials', async () => {
    const attributes = await sns.send(new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: applicationArn }))
    const listed = await sns.send(new ListPlatformApplicationsCommand({}))

    assert.equal(applicationArn, 'arn:aws:sns:us-east-1:000000000000:app/APNS/trainer-chat-ios')
    assert.equal(attributes.Attributes?.['PlatformCredential'], undefined)
    assert.equal(attributes.Attributes?.['Enabled'], 'true')
    assert.deepEqual(listed.PlatformApplications?.map((application) => application.PlatformApplicationArn), [applicationArn])
  })

  test('creating an endpoint twice with the same token and data returns the same ARN', async () => {
    const first = await createEndpoint('device-token-1', 'user-1')
    const second = await createEndpoint('device-token-1', 'user-1')

    assert.equal(second, first)
    assert.match(first, /^arn:aws:sns:us-east-1:000000000000:endpoint\/APNS\/trainer-chat-ios\/[0-9a-f-]{36}$/)
  })

  test('the same token with different CustomUserData is refused like AWS does', async () => {
    const existing = await createEndpoint('device-token-2', 'user-2')

    const error = await expectServiceError(
      sns.send(new CreatePlatformEndpointCommand({ PlatformApplicationArn: applicationArn, Token: 'device-token-2', CustomUserData: 'someone-else' })),
      'InvalidParameterException',
      400,
    )

    assert.match(error.message, /already exists with the same Token, but different attributes/)
    assert.ok(error.message.includes(existing), 'the message names the existing endpoint')
  })

  test('endpoint attributes can be read and changed', async () => {
    const endpointArn = await createEndpoint('device-token-3', 'user-3')

    await sns.send(new SetEndpointAttributesCommand({ EndpointArn: endpointArn, Attributes: { Token: 'device-token-3b', Enabled: 'false' } }))
    const attributes = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn }))

    assert.deepEqual(attributes.Attributes, { Enabled: 'false', Token: 'device-token-3b', CustomUserData: 'user-3' })
  })

  test('a JSON-structured publish is recorded at the LocalStack URL with its shape', async () => {
    const endpointArn = await createEndpoint('device-token-4')

    const published = await sns.send(
      new PublishCommand({
        TargetArn: endpointArn,
        MessageStructure: 'json',
        Message: APNS_PAYLOAD,
        MessageAttributes: { 'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { DataType: 'String', StringValue: 'alert' } },
      }),
    )
    const response = await fetch(`${fixture.edge.url}/_aws/sns/platform-endpoint-messages`)
    const recorded = (await response.json()) as { platform_endpoint_messages: Record<string, unknown[]> }

    assert.equal(response.status, 200)
    assert.deepEqual(recorded.platform_endpoint_messages, {
      [endpointArn]: [
        {
          TargetArn: endpointArn,
          Message: APNS_PAYLOAD,
          MessageStructure: 'json',
          MessageAttributes: { 'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { DataType: 'String', StringValue: 'alert' } },
          MessageId: published.MessageId,
        },
      ],
    })
    assert.deepEqual(fixture.edge.sns.published().map((notification) => notification.MessageId), [published.MessageId])
  })

  test('recorded notifications can be filtered and cleared per endpoint', async () => {
    const kept = await createEndpoint('device-token-5')
    const cleared = await createEndpoint('device-token-6')
    await sns.send(new PublishCommand({ TargetArn: kept, Message: 'for five' }))
    await sns.send(new PublishCommand({ TargetArn: cleared, Message: 'for six' }))

    const deleted = await fetch(`${fixture.edge.url}/_aws/sns/platform-endpoint-messages?endpointArn=${encodeURIComponent(cleared)}`, { method: 'DELETE' })
    const remaining = (await (await fetch(`${fixture.edge.url}/_aws/sns/platform-endpoint-messages`)).json()) as {
      platform_endpoint_messages: Record<string, Array<{ Message: string }>>
    }

    assert.equal(deleted.status, 204)
    assert.deepEqual(Object.keys(remaining.platform_endpoint_messages), [kept])
    assert.equal(remaining.platform_endpoint_messages[kept]?.[0]?.Message, 'for five')
  })

  test('a JSON structure that is not JSON, or has no default or APNS entry, is InvalidParameter', async () => {
    const endpointArn = await createEndpoint('device-token-7')

    await expectServiceError(sns.send(new PublishCommand({ TargetArn: endpointArn, MessageStructure: 'json', Message: 'not json' })), 'InvalidParameterException', 400)
    await expectServiceError(
      sns.send(new PublishCommand({ TargetArn: endpointArn, MessageStructure: 'json', Message: JSON.stringify({ GCM: '{}' }) })),
      'InvalidParameterException',
      400,
    )
    assert.deepEqual(fixture.edge.sns.published(), [])
  })

  test('publishing to a disabled endpoint fails with EndpointDisabled', async () => {
    const endpointArn = await createEndpoint('device-token-8')
    fixture.edge.sns.setEndpointEnabled(endpointArn, false)

    const error = await expectServiceError(sns.send(new PublishCommand({ TargetArn: endpointArn, Message: 'hello' })), 'EndpointDisabledException', 400)

    assert.equal(error.message, 'Endpoint is disabled')
    assert.deepEqual(fixture.edge.sns.published(), [])
  })

  test('publishing to an unknown or deleted endpoint fails with NotFound', async () => {
    const endpointArn = await createEndpoint('device-token-9')
    await sns.send(new DeleteEndpointCommand({ EndpointArn: endpointArn }))

    await expectServiceError(sns.send(new PublishCommand({ TargetArn: endpointArn, Message: 'hello' })), 'NotFoundException', 404)
    await expectServiceError(sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn })), 'NotFoundException', 404)
  })

  test('sns.failNext makes calls fail: without retries the SDK call rejects, with them it recovers', async () => {
    const endpointArn = await createEndpoint('device-token-10')
    const noRetry = snsClient(fixture.edge, { maxAttempts: 1 })

    fixture.edge.sns.failNext(1)
    await expectServiceError(noRetry.send(new PublishCommand({ TargetArn: endpointArn, Message: 'lost' })), 'InternalErrorException', 500)
    fixture.edge.sns.failNext(1, 'Throttled')
    await expectServiceError(noRetry.send(new PublishCommand({ TargetArn: endpointArn, Message: 'lost' })), 'ThrottledException', 429)
    fixture.edge.sns.failNext(1)
    const retried = await sns.send(new PublishCommand({ TargetArn: endpointArn, Message: 'delivered' }))

    assert.equal(retried.$metadata.attempts, 2)
    assert.deepEqual(fixture.edge.sns.published().map((notification) => notification.Message), ['delivered'])
    noRetry.destroy()
  })

  test('a client with the wrong secret gets SignatureDoesNotMatch, an unknown key InvalidClientTokenId', async () => {
    const forger = snsClient(fixture.edge, { credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: 'wrong' } })
    const stranger = snsClient(fixture.edge, { credentials: { accessKeyId: 'AKIASTRANGER', secretAccessKey: 'test' } })

    await expectServiceError(forger.send(new ListPlatformApplicationsCommand({})), 'SignatureDoesNotMatch', 403)
    await expectServiceError(stranger.send(new ListPlatformApplicationsCommand({})), 'InvalidClientTokenId', 403)
    forger.destroy()
    stranger.destroy()
  })

  test('an unsigned call is refused with MissingAuthenticationToken', async () => {
    const response = await rawRequest(fixture.edge.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: Buffer.from('Action=ListPlatformApplications&Version=2010-03-31'),
    })

    assert.equal(response.status, 403)
    assert.equal(xmlCode(response.body), 'MissingAuthenticationToken')
  })

  test('a client speaking the JSON protocol is answered in JSON', async () => {
    const jsonClient = snsClient(fixture.edge, { protocol: AwsJson1_0Protocol })
    const sentContentTypes: unknown[] = []
    jsonClient.middlewareStack.add(
      (next) => async (args) => {
        const request: unknown = args.request
        if (typeof request === 'object' && request !== null && 'headers' in request) {
          const headers: unknown = request.headers
          if (typeof headers === 'object' && headers !== null && 'content-type' in headers) sentContentTypes.push(headers['content-type'])
        }
        return next(args)
      },
      { step: 'finalizeRequest' },
    )

    const created = await jsonClient.send(new CreatePlatformEndpointCommand({ PlatformApplicationArn: applicationArn, Token: 'json-token', CustomUserData: 'json-user' }))
    const attributes = await jsonClient.send(new GetEndpointAttributesCommand({ EndpointArn: created.EndpointArn }))
    await expectServiceError(jsonClient.send(new PublishCommand({ TargetArn: `${applicationArn}-missing`, Message: 'x' })), 'NotFoundException', 404)

    assert.deepEqual(attributes.Attributes, { Enabled: 'true', Token: 'json-token', CustomUserData: 'json-user' })
    assert.deepEqual(new Set(sentContentTypes), new Set(['application/x-amz-json-1.0']))
    jsonClient.destroy()
  })

  test('applications and endpoints survive a restart on the same data dir', async () => {
    const endpointArn = await createEndpoint('device-token-11', 'user-11')

    const edge = await fixture.restart()
    sns.destroy()
    sns = snsClient(edge)
    const attributes = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn }))

    assert.equal(attributes.Attributes?.['CustomUserData'], 'user-11')
    assert.equal(await createEndpoint('device-token-11', 'user-11'), endpointArn)
  })

  test('the health endpoint reports both services running, like LocalStack', async () => {
    const response = await fetch(`${fixture.edge.url}/_localstack/health`)

    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { services: { s3: 'running', sns: 'running' } })
  })
})
