// CloudFormation custom resource: one SNS mobile-push platform application (APNs or FCM).
//
// CloudFormation has no resource type for platform applications, and secrets cannot be passed to
// a custom resource through the template (dynamic references are refused there), so this handler
// reads the credential from Secrets Manager itself. It runs at deploy time only, outside the VPC,
// on the AWS SDK that ships with the Lambda runtime. It never logs the credential.
//
// Properties: Name, Platform (APNS | APNS_SANDBOX | GCM), SecretName.
// Secret formats (SecretString):
//   APNs token auth (recommended): {"signingKey":"-----BEGIN PRIVATE KEY-----…","signingKeyId":"ABC123DEFG","teamId":"TEAM123456","bundleId":"com.example.app"}
//   APNs certificate auth:        {"certificate":"-----BEGIN CERTIFICATE-----…","privateKey":"-----BEGIN PRIVATE KEY-----…"}
//   FCM (HTTP v1):                the Firebase service-account JSON file, verbatim.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import {
  CreatePlatformApplicationCommand,
  DeletePlatformApplicationCommand,
  SetPlatformApplicationAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns'

const sns = new SNSClient({})
const secrets = new SecretsManagerClient({})

export async function handler(event) {
  const properties = event.ResourceProperties
  let physicalId = event.PhysicalResourceId
  try {
    if (event.RequestType === 'Delete') {
      if (physicalId?.startsWith('arn:')) {
        await sns.send(new DeletePlatformApplicationCommand({ PlatformApplicationArn: physicalId }))
      }
      return await respond(event, 'SUCCESS', physicalId)
    }
    const attributes = await attributesFor(properties)
    const previous = event.OldResourceProperties
    const sameApplication =
      event.RequestType === 'Update' && previous?.Name === properties.Name && previous?.Platform === properties.Platform
    if (sameApplication) {
      await sns.send(new SetPlatformApplicationAttributesCommand({ PlatformApplicationArn: physicalId, Attributes: attributes }))
    } else {
      // A new name or platform is a new application; CloudFormation deletes the old one afterwards.
      const created = await sns.send(
        new CreatePlatformApplicationCommand({ Name: properties.Name, Platform: properties.Platform, Attributes: attributes }),
      )
      physicalId = created.PlatformApplicationArn
    }
    return await respond(event, 'SUCCESS', physicalId, { Arn: physicalId })
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error'
    console.error(JSON.stringify({ level: 'ERROR', message: 'platform application failed', requestType: event.RequestType, reason }))
    return await respond(event, 'FAILED', physicalId ?? `failed-${event.LogicalResourceId}`, undefined, reason)
  }
}

async function attributesFor({ Platform: platform, SecretName: secretName }) {
  const { SecretString: secret } = await secrets.send(new GetSecretValueCommand({ SecretId: secretName }))
  if (!secret) throw new Error(`Secret ${secretName} has no SecretString`)
  if (platform === 'GCM') return { PlatformCredential: secret }
  const apns = JSON.parse(secret)
  if (apns.signingKey) {
    return {
      PlatformCredential: apns.signingKey,
      PlatformPrincipal: apns.signingKeyId,
      ApplePlatformTeamID: apns.teamId,
      ApplePlatformBundleID: apns.bundleId,
    }
  }
  if (apns.certificate && apns.privateKey) return { PlatformCredential: apns.privateKey, PlatformPrincipal: apns.certificate }
  throw new Error(`Secret ${secretName} holds neither APNs token (signingKey…) nor certificate credentials`)
}

async function respond(event, status, physicalResourceId, data, reason) {
  const body = JSON.stringify({
    Status: status,
    Reason: reason ?? 'See the CloudWatch log stream of the platform-application function',
    PhysicalResourceId: physicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: data,
  })
  const response = await fetch(event.ResponseURL, { method: 'PUT', headers: { 'content-type': '' }, body })
  if (!response.ok) throw new Error(`CloudFormation response upload failed with HTTP ${response.status}`)
}
