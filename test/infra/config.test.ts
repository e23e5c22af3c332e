/**
 * Stage configuration from CDK context: what cdk.json holds, what -c overrides, what is refused.
 *
 *   node --import tsx --test test/infra/config.test.ts
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { loadStageConfig } from '../../lib/config.ts'

const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, any> }
const stages = cdkJson.context['trainer-chat:stages']

/** A stand-in for a CDK App: loadStageConfig only reads context. */
const withContext = (context: Record<string, unknown>) => ({
  node: { tryGetContext: (key: string) => context[key] },
})

test('dev and prod in cdk.json are valid', () => {
  const dev = loadStageConfig(withContext({ ...cdkJson.context, stage: 'dev' }))
  const prod = loadStageConfig(withContext({ ...cdkJson.context, stage: 'prod' }))
  assert.equal(dev.stage, 'dev')
  assert.equal(dev.removalPolicy, 'destroy')
  assert.equal(prod.removalPolicy, 'retain')
  assert.equal(prod.database.multiAz, true)
  assert.equal(prod.database.deletionProtection, true)
  assert.equal(prod.account, undefined, 'environment-agnostic unless asked')
})

test('the stage defaults to dev', () => {
  assert.equal(loadStageConfig(withContext(cdkJson.context)).stage, 'dev')
})

test('an unknown stage is refused with the accepted names', () => {
  assert.throws(() => loadStageConfig(withContext({ ...cdkJson.context, stage: 'staging' })), /Unknown stage "staging".*dev\|prod/)
})

test('command-line context overrides per-operator values', () => {
  const config = loadStageConfig(
    withContext({
      ...cdkJson.context,
      stage: 'prod',
      alarmEmail: 'ops@example.com',
      corsOrigins: 'https://admin.example.com, https://staff.example.com',
      account: '123456789012',
      region: 'eu-west-1',
      fcmSecretName: 'trainer-chat/fcm',
    }),
  )
  assert.equal(config.alarmEmail, 'ops@example.com')
  assert.deepEqual(config.corsOrigins, ['https://admin.example.com', 'https://staff.example.com'])
  assert.equal(config.account, '123456789012')
  assert.equal(config.region, 'eu-west-1')
  assert.equal(config.push.fcmSecretName, 'trainer-chat/fcm')
  assert.equal(config.push.apnsSecretName, undefined)
})

test('every invalid value is reported with its path', () => {
  const broken = structuredClone(stages)
  broken.dev.database.backupRetentionDays = 0
  broken.dev.functions.logRetentionDays = 4
  broken.dev.corsOrigins = ['not a url']
  const error = (() => {
    try {
      loadStageConfig(withContext({ 'trainer-chat:stages': broken, stage: 'dev', alarmEmail: 'nobody' }))
    } catch (caught) {
      return String(caught)
    }
    return ''
  })()
  assert.match(error, /dev\.database\.backupRetentionDays/)
  assert.match(error, /dev\.functions\.logRetentionDays/)
  assert.match(error, /dev\.corsOrigins\.0/)
  assert.match(error, /dev\.alarmEmail/)
})

test('threat protection without the Plus feature plan is refused', () => {
  const broken = structuredClone(stages)
  broken.dev.cognito = { featurePlan: 'essentials', threatProtection: 'enforced' }
  assert.throws(() => loadStageConfig(withContext({ 'trainer-chat:stages': broken, stage: 'dev' })), /threatProtection needs cognito\.featurePlan "plus"/)
})
