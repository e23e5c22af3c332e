import * as z from 'zod/mini'

/** The local stack's own settings (the handlers' settings are in lambdas/config.ts). */
const LocalEnv = z.object({
  DATA_DIR: z._default(z.string(), '.data'),
  HOST: z._default(z.string(), '127.0.0.1'),
  HTTP_PORT: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(65535)), 3000),
  WS_PORT: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(65535)), 3001),
  DATABASE_URL: z.optional(z.string().check(z.minLength(1))),
  /** The AWS edge (S3, SNS), LocalStack's port by default. */
  AWS_PORT: z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(65535)), 4566),
  /** An external AWS endpoint (a real LocalStack) to use instead of the edge. */
  AWS_ENDPOINT_URL: z.optional(z.string().check(z.minLength(1))),
})

export type LocalEnv = z.infer<typeof LocalEnv>

export function readLocalEnv(env: NodeJS.ProcessEnv = process.env): LocalEnv {
  const result = LocalEnv.safeParse(env)
  if (!result.success) {
    throw new Error(`Invalid local settings: ${result.error.issues.map((i) => i.path.join('.')).join(', ')}`)
  }
  return result.data
}
