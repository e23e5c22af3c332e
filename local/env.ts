import * as z from 'zod/mini'
import { StartupError } from './startup-errors.ts'

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
  /** Reload the handlers when lambdas/ or migrations/ change (`npm run dev` only). */
  RELOAD: z._default(z.enum(['true', 'false', '1', '0']), 'true'),
  /** API Gateway's idle timeout and maximum connection duration, shortened in tests of the limits. */
  WS_IDLE_TIMEOUT_SECONDS: z._default(z.coerce.number().check(z.positive()), 600),
  WS_MAX_CONNECTION_SECONDS: z._default(z.coerce.number().check(z.positive()), 7200),
})

export type LocalEnv = z.infer<typeof LocalEnv>

export function readLocalEnv(env: NodeJS.ProcessEnv = process.env): LocalEnv {
  const result = LocalEnv.safeParse(env)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}=${JSON.stringify(env[issue.path.join('.')] ?? '')} (${issue.message})`)
    throw new StartupError(`invalid setting ${problems.join(', ')}: ports are 0-65535 (0 picks a free one), RELOAD is true or false, WS_*_SECONDS are positive`)
  }
  return result.data
}
