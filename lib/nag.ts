import { Stack, Validations } from 'aws-cdk-lib'
import type { PolicyStatement } from 'aws-cdk-lib/aws-iam'
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js'
import type { IConstruct } from 'constructs'

/**
 * Acknowledges AwsSolutions-IAM5 for exactly the wildcards in the given statements, finding by
 * finding (`AwsSolutions-IAM5[Resource::<Bucket.Arn>/conversations/*]`), never the rule as a whole: a wildcard
 * added to the same policy later still fails synth until someone writes a reason for it.
 *
 * The finding ids are computed the way cdk-nag computes them (its own flattening of the resolved
 * ARN), so the statements must only reference resources in `scope`'s own stack; a cross-stack
 * reference resolves differently after synthesis.
 */
export function acknowledgeWildcards(scope: IConstruct, statements: readonly PolicyStatement[], reason: string): void {
  const stack = Stack.of(scope)
  const findings = new Set<string>()
  for (const statement of statements) {
    for (const action of statement.actions) if (action.includes('*')) findings.add(`Action::${action}`)
    for (const resource of statement.resources) {
      const flat = flattenCfnReference(stack.resolve(resource))
      if (flat.includes('*')) findings.add(`Resource::${flat}`)
    }
  }
  for (const finding of findings) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason })
  }
}

/** The AWS-managed policy every Lambda role starts with (logs), as cdk-nag names the finding. */
export const LAMBDA_BASIC_EXECUTION_FINDING =
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'
/** The AWS-managed policy for Lambda ENIs in a VPC. */
export const LAMBDA_VPC_ACCESS_FINDING =
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]'
