import { snsErrors } from './sns-errors.ts'
import type { PlatformRegistry } from './sns-platform.ts'
import type { SnsInput, SnsOutput } from './sns-protocol.ts'

/** The mobile-push subset of SNS: each action reads its input members and returns its output members. */

type Action = (input: SnsInput, registry: PlatformRegistry) => SnsOutput | undefined

export const snsActions: Readonly<Record<string, Action>> = {
  CreatePlatformApplication: (input, registry) => ({
    PlatformApplicationArn: registry.createApplication(input.string('Name'), input.string('Platform'), input.map('Attributes') ?? {}).arn,
  }),

  ListPlatformApplications: (_input, registry) => ({
    PlatformApplications: registry.listApplications().map((application) => ({
      PlatformApplicationArn: application.arn,
      Attributes: new Map(Object.entries(registry.applicationAttributes(application.arn))),
    })),
  }),

  GetPlatformApplicationAttributes: (input, registry) => ({
    Attributes: new Map(Object.entries(registry.applicationAttributes(input.string('PlatformApplicationArn')))),
  }),

  DeletePlatformApplication: (input, registry) => {
    registry.deleteApplication(input.string('PlatformApplicationArn'))
    return undefined
  },

  CreatePlatformEndpoint: (input, registry) => ({
    EndpointArn: registry.createEndpoint(
      input.string('PlatformApplicationArn'),
      input.string('Token'),
      input.string('CustomUserData'),
      input.map('Attributes') ?? {},
    ).arn,
  }),

  GetEndpointAttributes: (input, registry) => ({
    Attributes: new Map(Object.entries(registry.endpointAttributes(input.string('EndpointArn')))),
  }),

  SetEndpointAttributes: (input, registry) => {
    registry.setEndpointAttributes(input.string('EndpointArn'), input.map('Attributes') ?? {})
    return undefined
  },

  DeleteEndpoint: (input, registry) => {
    registry.deleteEndpoint(input.string('EndpointArn'))
    return undefined
  },

  Publish: (input, registry) => {
    const targetArn = input.string('TargetArn')
    // Topics and SMS are outside this emulator: there is never a topic to publish to.
    if (targetArn === undefined) {
      if (input.string('TopicArn') !== undefined) throw snsErrors.notFound('Topic does not exist')
      throw snsErrors.invalidParameter('TopicArn or TargetArn Reason: no value for required parameter')
    }
    const message = input.string('Message')
    if (message === undefined) throw snsErrors.invalidParameter('Message Reason: no value for required parameter')
    return {
      MessageId: registry.publish({
        targetArn,
        message,
        messageStructure: input.string('MessageStructure'),
        subject: input.string('Subject'),
        messageAttributes: input.messageAttributes(),
      }),
    }
  },
}
