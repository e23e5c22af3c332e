import * as z from 'zod/mini'
import { DEFAULT_LIMITS } from './core/model.ts'

/**
 * Every setting the Lambda handlers read, parsed once per process (cold start) and frozen; a
 * missing or malformed variable fails fast with a message naming it. The local stack and the
 * tests parse their own settings object with `parseConfig` and build handlers from it.
 */
const csv = z.pipe(
  z.string(),
  z.transform((value) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  ),
)
const positiveInt = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback)
const positiveNumber = (fallback: number) => z._default(z.coerce.number().check(z.positive()), fallback)
const flag = z._default(
  z.pipe(z.enum(['true', 'false', '1', '0']), z.transform((value) => value === 'true' || value === '1')),
  false,
)

/** JPEG, PNG, HEIC/HEIF, WebP, GIF, PDF, plain text and Word/Excel/PowerPoint documents. */
const DEFAULT_ATTACHMENT_CONTENT_TYPES = [
  'image/jpeg',
  'image/png',
  'image/heic',
  'image/heif',
  'image/webp',
  'image/gif',
  'application/pdf',
  'text/plain',
  'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
]

/** The reactions apps offer by default: thumbs up, heart, laughing, surprised, sad, fire, flexed biceps, clapping. */
export const DEFAULT_REACTION_EMOJI = ['👍', '❤️', '😂', '😮', '😢', '🔥', '💪', '👏']

const EnvSchema = z.object({
  AWS_REGION: z._default(z.string(), 'us-east-1'),
  LOG_LEVEL: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info'),

  /** `postgres://…` URL. In AWS the stack sets the DB_* variables instead (RDS Proxy + IAM auth). */
  DATABASE_URL: z.optional(z.string().check(z.minLength(1))),
  DB_HOST: z.optional(z.string()),
  DB_PORT: positiveInt(5432),
  DB_NAME: z._default(z.string(), 'postgres'),
  DB_USER: z._default(z.string(), 'postgres'),
  /** Sign a short-lived RDS IAM auth token as the password (RDS Proxy with IAM auth). */
  DB_IAM_AUTH: flag,
  DB_SSL: flag,
  DB_STATEMENT_TIMEOUT_MS: positiveInt(5000),

  /** API Gateway Management API endpoint: https://{api-id}.execute-api.{region}.amazonaws.com/{stage} */
  CONNECTIONS_ENDPOINT: z._default(z.string(), 'http://127.0.0.1:3001/local'),

  JWT_ISSUER: z._default(z.string(), 'http://127.0.0.1:3000/local-issuer'),
  /** Defaults to `${JWT_ISSUER}/.well-known/jwks.json`, which is where Cognito serves it. */
  JWT_JWKS_URL: z.optional(z.string()),
  /** Cognito app client id: checked against `aud` (id tokens) or `client_id` (access tokens). */
  JWT_AUDIENCE: z._default(z.string(), 'trainer-chat-local'),
  JWT_TOKEN_USE: z._default(z.enum(['id', 'access']), 'id'),
  /** Tokens whose lifetime (exp - iat) is longer are refused; Cognito's maximum for ID and access tokens is 24 h. */
  JWT_MAX_TOKEN_LIFETIME_SECONDS: positiveInt(24 * 60 * 60),

  /** Each live connection holds a numbered slot (a smallint), hence the ceiling. */
  MAX_CONNECTIONS_PER_USER: z._default(z.coerce.number().check(z.int(), z.positive(), z.maximum(1000)), 10),
  /** Per-user token bucket for sendMessage, kept in the users row: burst size and sustained refill. */
  RATE_LIMIT_BURST: positiveInt(DEFAULT_LIMITS.send.burst),
  RATE_LIMIT_PER_SECOND: positiveNumber(DEFAULT_LIMITS.send.perSecond),
  /**
   * Typing bucket, per user in the database (the typing statement spends it) and per connection in
   * each Lambda container's memory (sheds a flood without a round trip); excess frames are dropped.
   */
  TYPING_BURST: positiveInt(DEFAULT_LIMITS.typing.burst),
  TYPING_PER_SECOND: positiveNumber(DEFAULT_LIMITS.typing.perSecond),
  /** Per-user bucket shared by joinConversation and leaveConversation, in the database; over it: rate_limited. */
  JOIN_BURST: positiveInt(DEFAULT_LIMITS.join.burst),
  JOIN_PER_SECOND: positiveNumber(DEFAULT_LIMITS.join.perSecond),
  /** Per-user bucket for markAsRead, in the database; over it: rate_limited. */
  MARK_AS_READ_BURST: positiveInt(DEFAULT_LIMITS.markAsRead.burst),
  MARK_AS_READ_PER_SECOND: positiveNumber(DEFAULT_LIMITS.markAsRead.perSecond),

  /** Comma-separated browser origins allowed to open the WebSocket; apps without Origin are always allowed. */
  ALLOWED_ORIGINS: z._default(csv, []),

  ATTACHMENTS_BUCKET: z._default(z.string(), 'trainer-chat-attachments'),
  /** Path-style S3 URLs (http://host/bucket/key): needed by LocalStack and the local stack's AWS edge. */
  S3_FORCE_PATH_STYLE: flag,
  ATTACHMENT_MAX_BYTES: positiveInt(25 * 1024 * 1024),
  /** Comma-separated bare media types clients may upload. */
  ATTACHMENT_CONTENT_TYPES: z._default(csv, DEFAULT_ATTACHMENT_CONTENT_TYPES),
  ATTACHMENT_UPLOAD_URL_SECONDS: positiveInt(300),
  /**
   * At most 60 s: a download URL cannot be revoked, so its lifetime is how long an attachment of a
   * message a moderator hid stays downloadable (#11 item 14). Clients get fresh URLs with every
   * history page and every delivered message.
   */
  ATTACHMENT_DOWNLOAD_URL_SECONDS: z._default(z.coerce.number().check(z.int(), z.positive(), z.maximum(60)), 60),
  /** How long after its upload URL was issued an attachment may still be sent; unused ones are swept after that. */
  ATTACHMENT_USE_WITHIN_SECONDS: positiveInt(DEFAULT_LIMITS.attachmentUseWithinSeconds),
  /** Where the S3 and SNS clients send their calls (LocalStack, the local stack's AWS edge); AWS itself when unset. */
  AWS_ENDPOINT_URL: z.optional(z.string().check(z.minLength(1))),
  AWS_ENDPOINT_URL_S3: z.optional(z.string().check(z.minLength(1))),
  AWS_ENDPOINT_URL_SNS: z.optional(z.string().check(z.minLength(1))),
  /** How long after sending the sender may still edit a message. */
  MESSAGE_EDIT_WINDOW_SECONDS: positiveInt(900),
  /** Comma-separated emoji a reaction may use, matched exactly (code points, variation selectors included); each at most the protocol's REACTION_EMOJI_MAX_CHARS (32). */
  REACTION_EMOJI: z._default(
    z.pipe(csv, z.array(z.string().check(z.maxLength(32))).check(z.minLength(1), z.maxLength(64))),
    DEFAULT_REACTION_EMOJI,
  ),
  PUSH_APNS_PLATFORM_APPLICATION_ARN: z.optional(z.string()),
  PUSH_GCM_PLATFORM_APPLICATION_ARN: z.optional(z.string()),
})

export type Config = ReturnType<typeof parseConfig>

export function parseConfig(env: Record<string, string | undefined>) {
  const result = EnvSchema.safeParse(env)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')
    throw new Error(`Invalid configuration: ${problems}`)
  }
  const env_ = result.data
  return Object.freeze({
    region: env_.AWS_REGION,
    logLevel: env_.LOG_LEVEL,
    database: Object.freeze({
      url: env_.DATABASE_URL,
      host: env_.DB_HOST,
      port: env_.DB_PORT,
      name: env_.DB_NAME,
      user: env_.DB_USER,
      iamAuth: env_.DB_IAM_AUTH,
      ssl: env_.DB_SSL,
      statementTimeoutMs: env_.DB_STATEMENT_TIMEOUT_MS,
    }),
    connectionsEndpoint: env_.CONNECTIONS_ENDPOINT,
    jwt: Object.freeze({
      issuer: env_.JWT_ISSUER,
      jwksUrl: env_.JWT_JWKS_URL ?? `${env_.JWT_ISSUER}/.well-known/jwks.json`,
      audience: env_.JWT_AUDIENCE,
      tokenUse: env_.JWT_TOKEN_USE,
      maxTokenLifetimeSeconds: env_.JWT_MAX_TOKEN_LIFETIME_SECONDS,
    }),
    maxConnectionsPerUser: env_.MAX_CONNECTIONS_PER_USER,
    sendRateLimit: Object.freeze({ burst: env_.RATE_LIMIT_BURST, perSecond: env_.RATE_LIMIT_PER_SECOND }),
    typingRateLimit: Object.freeze({ burst: env_.TYPING_BURST, perSecond: env_.TYPING_PER_SECOND }),
    joinRateLimit: Object.freeze({ burst: env_.JOIN_BURST, perSecond: env_.JOIN_PER_SECOND }),
    markAsReadRateLimit: Object.freeze({ burst: env_.MARK_AS_READ_BURST, perSecond: env_.MARK_AS_READ_PER_SECOND }),
    allowedOrigins: Object.freeze(env_.ALLOWED_ORIGINS),
    attachments: Object.freeze({
      bucket: env_.ATTACHMENTS_BUCKET,
      forcePathStyle: env_.S3_FORCE_PATH_STYLE,
      maxBytes: env_.ATTACHMENT_MAX_BYTES,
      contentTypes: Object.freeze(env_.ATTACHMENT_CONTENT_TYPES.map((type) => type.toLowerCase())),
      uploadUrlSeconds: env_.ATTACHMENT_UPLOAD_URL_SECONDS,
      downloadUrlSeconds: env_.ATTACHMENT_DOWNLOAD_URL_SECONDS,
      useWithinSeconds: env_.ATTACHMENT_USE_WITHIN_SECONDS,
      endpoint: env_.AWS_ENDPOINT_URL_S3 ?? env_.AWS_ENDPOINT_URL,
    }),
    messages: Object.freeze({
      editWindowSeconds: env_.MESSAGE_EDIT_WINDOW_SECONDS,
      reactionEmoji: Object.freeze([...new Set(env_.REACTION_EMOJI)]),
    }),
    push: Object.freeze({
      apnsPlatformApplicationArn: env_.PUSH_APNS_PLATFORM_APPLICATION_ARN,
      gcmPlatformApplicationArn: env_.PUSH_GCM_PLATFORM_APPLICATION_ARN,
      endpoint: env_.AWS_ENDPOINT_URL_SNS ?? env_.AWS_ENDPOINT_URL,
    }),
  })
}

let parsed: Config | undefined

/** The Lambda container's configuration, from its environment, parsed on first use. */
export function config(): Config {
  return (parsed ??= parseConfig(process.env))
}
