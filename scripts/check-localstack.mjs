#!/usr/bin/env node
// Used by `npm run deploy:local`: is what answers at the endpoint really LocalStack, and a tier
// that can host this app? The dev stack's own AWS edge also answers /_localstack/health (so
// scripts written for LocalStack work against it), but it emulates only S3 and SNS; a deploy
// against it would fail deep inside CloudFormation. Exits 0 when LocalStack can take the deploy.
const endpoint = process.argv[2]
const paidTier =
  'API Gateway WebSocket APIs (with RDS, RDS Proxy, Cognito and API Gateway v2) need a LocalStack paid tier: ' +
  'start it with LOCALSTACK_AUTH_TOKEN=<your token> localstack start -d'

async function getJson(path) {
  const response = await fetch(`${endpoint}${path}`, { signal: AbortSignal.timeout(5000) })
  return { status: response.status, body: await response.json().catch(() => undefined) }
}

function fail(message) {
  console.error(`deploy:local: ${message}`)
  process.exit(1)
}

let health
try {
  health = await getJson('/_localstack/health')
} catch {
  fail(`nothing answers at ${endpoint}. ${paidTier}`)
}
if (health.status !== 200) fail(`${endpoint}/_localstack/health answered ${health.status}: is this LocalStack?`)
const info = await getJson('/_localstack/info').catch(() => ({ status: 0, body: undefined }))
const edition = info.body?.edition
if (info.status !== 200 || typeof info.body?.version !== 'string' || typeof edition !== 'string') {
  const services = Object.keys(health.body?.services ?? {}).join(', ') || 'none listed'
  fail(
    `${endpoint} answers /_localstack/health but is not LocalStack (no /_localstack/info; services: ${services}). ` +
      `If it is the dev stack's own AWS edge (npm run dev, AWS_PORT), stop it or point AWS_ENDPOINT_URL at LocalStack. ${paidTier}`,
  )
}
if (edition === 'community') fail(`LocalStack ${info.body.version} at ${endpoint} is the community edition. ${paidTier}`)
const apigateway = health.body?.services?.apigateway
if (apigateway !== undefined && !['available', 'running'].includes(apigateway)) {
  fail(`LocalStack at ${endpoint} reports apigateway "${apigateway}". ${paidTier}`)
}
console.log(`› LocalStack ${info.body.version} (${edition}) at ${endpoint}`)
