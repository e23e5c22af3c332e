#!/usr/bin/env bash
# npm run deploy:local — deploy the dev stage's two stacks to a running LocalStack with cdklocal.
#
# Not exercised in this repository's CI (no Docker, no LocalStack): see docs/deploy.md, "LocalStack",
# for which services need LocalStack's paid tier and which parts are known not to be emulated.
#
#   LOCALSTACK_AUTH_TOKEN=… localstack start -d   # in another terminal, with a Pro/Ultimate token
#   npm run deploy:local                           # STAGE=prod npm run deploy:local for the prod shape
set -euo pipefail

cd "$(dirname "$0")/.."
STAGE="${STAGE:-dev}"
ENDPOINT="${AWS_ENDPOINT_URL:-http://localhost.localstack.cloud:4566}"

# LocalStack accepts any credentials; these are its documented dummies, used only when none are set.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ENDPOINT_URL="$ENDPOINT"

echo "› API Gateway WebSocket APIs, RDS, RDS Proxy and Cognito need a LocalStack paid tier and its auth token (LOCALSTACK_AUTH_TOKEN)"
# Refuses anything that is not a LocalStack able to take the deploy (the dev stack's own AWS edge
# also answers /_localstack/health): see scripts/check-localstack.mjs.
node scripts/check-localstack.mjs "$ENDPOINT"

# cdklocal wraps the project's own aws-cdk CLI (node_modules/.bin/cdk) and points it at LocalStack.
if command -v cdklocal >/dev/null 2>&1; then
  CDKLOCAL=(cdklocal)
else
  CDKLOCAL=(npx -y aws-cdk-local)
fi

mkdir -p .tmp
echo "› bootstrapping LocalStack ($ENDPOINT, $AWS_DEFAULT_REGION)"
"${CDKLOCAL[@]}" bootstrap -c "stage=$STAGE"

echo "› deploying trainer-chat-$STAGE-stateful and trainer-chat-$STAGE-stateless"
"${CDKLOCAL[@]}" deploy --all -c "stage=$STAGE" \
  --require-approval never \
  --outputs-file ".tmp/cdk-outputs.localstack.$STAGE.json"

echo "› outputs written to .tmp/cdk-outputs.localstack.$STAGE.json"
