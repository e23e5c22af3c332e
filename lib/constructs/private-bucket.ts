import { BlockPublicAccess, BucketEncryption, type BucketProps, ObjectOwnership } from 'aws-cdk-lib/aws-s3'

/**
 * What every bucket of ours is, whatever it holds: no public access, encrypted at rest, TLS only
 * (cdk-nag AwsSolutions-S10), and no ACLs (the bucket owner owns every object). Spread it first
 * into a bucket's props; the rest say what the bucket is for.
 */
export const PRIVATE_BUCKET = {
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  encryption: BucketEncryption.S3_MANAGED,
  enforceSSL: true,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
} as const satisfies BucketProps
