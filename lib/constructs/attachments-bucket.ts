import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib'
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam'
import { Bucket, HttpMethods } from 'aws-cdk-lib/aws-s3'
import { Construct } from 'constructs'
import { acknowledgeWildcards } from '../nag.ts'
import { PRIVATE_BUCKET } from './private-bucket.ts'

/**
 * Key convention (shared with lambdas/core/attachments.ts, documented in docs/deploy.md):
 *
 * - every object lives at `conversations/{conversationId}/{attachmentId}`: the presigned PUT from
 *   `POST /conversations/{id}/attachments` writes it there and it never moves;
 * - the database records each upload; `sendMessage` checks the object with HeadObject;
 * - uploads no message references are deleted by the `attachments-sweep` function (hourly), which
 *   knows from the database what is referenced. S3 alone cannot tell a referenced object from an
 *   unreferenced one under the same prefix, so no lifecycle rule expires them; lifecycle only
 *   aborts abandoned multipart uploads.
 */
export const OBJECT_PREFIX = 'conversations/'

export interface AttachmentsBucketProps {
  readonly corsOrigins: readonly string[]
  readonly removalPolicy: RemovalPolicy
  /** Empty the bucket on stack deletion (throw-away stages only). */
  readonly autoDeleteObjects: boolean
}

export class AttachmentsBucket extends Construct {
  readonly bucket: Bucket
  /**
   * Presign uploads and downloads, check an upload (HeadObject is authorized by `s3:GetObject`),
   * delete unreferenced uploads; under `conversations/` only, and nothing may list the bucket.
   * A managed policy in this stack, attached to function roles by the stateless stack, so the
   * bucket's ARN never crosses stacks inside a policy document.
   */
  readonly objectAccessPolicy: ManagedPolicy

  constructor(scope: Construct, id: string, props: AttachmentsBucketProps) {
    super(scope, id)

    const accessLogs = new Bucket(this, 'AccessLogs', {
      ...PRIVATE_BUCKET,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: props.autoDeleteObjects,
    })
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the server-access-log destination for the attachments bucket; logging it into itself would loop.',
    })

    this.bucket = new Bucket(this, 'Bucket', {
      ...PRIVATE_BUCKET,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'attachments/',
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: props.autoDeleteObjects,
      ...(props.corsOrigins.length > 0
        ? {
            cors: [
              {
                // Browsers PUT to the presigned URL and GET the presigned download.
                allowedMethods: [HttpMethods.PUT, HttpMethods.GET, HttpMethods.HEAD],
                allowedOrigins: [...props.corsOrigins],
                allowedHeaders: ['content-type', 'content-length', 'content-md5', 'x-amz-*'],
                exposedHeaders: ['etag'],
                maxAge: 3600,
              },
            ],
          }
        : {}),
      lifecycleRules: [{ id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    })

    const objectAccess = new PolicyStatement({
      actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
      resources: [this.bucket.arnForObjects(`${OBJECT_PREFIX}*`)],
    })
    this.objectAccessPolicy = new ManagedPolicy(this, 'ObjectAccessPolicy', {
      description: 'trainer-chat functions: attachment objects under conversations/',
      statements: [objectAccess],
    })
    acknowledgeWildcards(
      this.objectAccessPolicy,
      [objectAccess],
      'Object actions under conversations/* of this bucket only: keys are conversationId/attachmentId, generated per upload at run time.',
    )
  }
}
