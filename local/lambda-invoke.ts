import type { Context } from 'aws-lambda'
import { randomUUID } from 'node:crypto'

/** A Lambda handler as the local gateways call it: our handlers are middy functions (event, context). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LambdaHandler<E = any, R = any> = (event: E, context: Context) => Promise<R>

/** Invokes a handler module's export the way the Lambda runtime does, with a plausible context. */
export async function invoke<E, R>(handler: LambdaHandler<E, R>, event: E, functionName: string): Promise<R> {
  const deadline = Date.now() + 30_000
  const context: Context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
  return handler(event, context)
}
