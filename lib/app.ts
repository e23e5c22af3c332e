import { type App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { retainsData, type StageConfig } from './config.ts'
import { StatefulStack } from './stateful-stack.ts'
import { StatelessStack } from './stateless-stack.ts'

export interface TrainerChatStacks {
  readonly stateful: StatefulStack
  readonly stateless: StatelessStack
}

/**
 * Both stacks of one stage, stateful first; the stateless stack gets the stateful resources
 * through props (CDK turns them into cross-stack exports). cdk-nag's AwsSolutions pack runs as a
 * CDK validation plugin: any finding without an acknowledgement fails `cdk synth`.
 */
export function buildTrainerChat(app: App, config: StageConfig): TrainerChatStacks {
  const env = config.account || config.region ? { account: config.account, region: config.region } : undefined
  const common = {
    ...(env ? { env } : {}),
    tags: { project: 'trainer-chat', stage: config.stage },
  }
  const stateful = new StatefulStack(app, `trainer-chat-${config.stage}-stateful`, {
    ...common,
    description: `trainer-chat ${config.stage}: network, database, attachments bucket, user pool`,
    terminationProtection: retainsData(config),
    config,
  })
  const stateless = new StatelessStack(app, `trainer-chat-${config.stage}-stateless`, {
    ...common,
    description: `trainer-chat ${config.stage}: functions, WebSocket and HTTP APIs, monitoring`,
    config,
    stateful,
  })
  stateless.addStackDependency(stateful)

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
  return { stateful, stateless }
}
