import { readLocalEnv, type LocalEnv } from './env.ts'
import { createLocalLog, parseLogLevel } from './log.ts'
import { checkPortsFree, explainStartupError } from './startup-errors.ts'

/**
 * `npm run dev`: starts the local stack, says what it is doing, reloads the handlers when their
 * sources change, and keeps it up until SIGINT/SIGTERM. A failure to start is one line naming
 * what to change and a non-zero exit; the stack trace only at LOG_LEVEL=debug.
 */
process.env.LOG_LEVEL ??= 'info'
const level = parseLogLevel(process.env.LOG_LEVEL)
const logger = createLocalLog({ level })
quietSdkNodeWarning()

let env: LocalEnv
try {
  env = readLocalEnv()
  await checkPortsFree(env.HOST, [
    { port: env.HTTP_PORT, variable: 'HTTP_PORT' },
    { port: env.WS_PORT, variable: 'WS_PORT' },
    // With AWS_ENDPOINT_URL no local edge listens.
    ...(env.AWS_ENDPOINT_URL ? [] : [{ port: env.AWS_PORT, variable: 'AWS_PORT' }]),
  ])
  // The console is served from console/dist: rebuild it first when its sources changed (it says so).
  // A failed build leaves the API up; /console/ then says the console is not built.
  try {
    const { buildConsole } = await import('../scripts/build-console.mjs')
    buildConsole()
  } catch (error) {
    logger.write('warn', 'console', `console not rebuilt: ${error instanceof Error ? error.message : String(error)}`)
  }
  const { startLocalStack } = await import('./stack.ts')
  // Loading the modules (tsx compiling ours, the AWS SDK, Kysely, pg) is the first cost of a start.
  logger.step(`modules loaded (${(performance.now() / 1000).toFixed(1)} s after start)`)
  const stack = await startLocalStack({
    dataDir: env.DATA_DIR,
    host: env.HOST,
    httpPort: env.HTTP_PORT,
    wsPort: env.WS_PORT,
    databaseUrl: env.DATABASE_URL,
    // A fresh DATA_DIR starts from a migrated copy instead of PGlite's initdb and every migration.
    pgliteTemplateBase: new URL('../node_modules/.cache/trainer-chat/pglite-template', import.meta.url).pathname,
    awsPort: env.AWS_PORT,
    awsEndpointUrl: env.AWS_ENDPOINT_URL,
    log: (line) => logger.write('warn', 'gateway', line),
    logger,
    reload: env.RELOAD === 'true' || env.RELOAD === '1',
    wsIdleTimeoutSeconds: env.WS_IDLE_TIMEOUT_SECONDS,
    wsMaxConnectionSeconds: env.WS_MAX_CONNECTION_SECONDS,
  })
  await waitHealthy(stack.httpUrl)
  // From the process's start (module loading included) to /health answering 200.
  logger.step(`healthy after ${(performance.now() / 1000).toFixed(1)} s`)
  console.log(banner(env, stack))
  installShutdown(stack)
} catch (error) {
  fail(error)
}

function banner(env: LocalEnv, stack: Awaited<ReturnType<typeof import('./stack.ts').startLocalStack>>): string {
  // The one-liners must work as printed: carry every setting that differs from the defaults
  // (the token CLI needs the same DATA_DIR, HOST and HTTP_PORT to sign for this issuer).
  const overrides = [
    env.DATA_DIR !== '.data' ? `DATA_DIR=${shellQuote(env.DATA_DIR)}` : '',
    env.HOST !== '127.0.0.1' ? `HOST=${shellQuote(env.HOST)}` : '',
    stack.http.port !== 3000 ? `HTTP_PORT=${stack.http.port}` : '',
  ].filter(Boolean)
  const prefix = overrides.length ? `${overrides.join(' ')} ` : ''
  const token = `${prefix}npm run -s token -- user1@example.com`
  return `
trainer-chat local stack is up
  database   ${stack.databaseKind === 'pglite' ? `embedded PGlite in ${env.DATA_DIR}/pgdata` : 'DATABASE_URL'}
  REST       ${stack.httpUrl}            (GET /health, /me, /conversations, ...)
  WebSocket  ${stack.wsUrl}/local   (?token=<jwt> or Authorization: Bearer <jwt>)
  JWKS       ${stack.issuer.issuer}/.well-known/jwks.json
  Console    ${stack.httpUrl}/console/   (moderation console; sign in as admin@example.com)
  AWS        ${stack.awsUrl}            (S3 attachments, SNS push; ${stack.aws ? `local edge, data in ${env.DATA_DIR}/aws` : 'AWS_ENDPOINT_URL'})
             pushes sent (local only): GET ${stack.awsUrl}/_aws/sns/platform-endpoint-messages

Demo users: admin@example.com, trainer1@example.com, trainer2@example.com,
            user1@example.com (trainer1), user2@example.com (trainer2)
Get a token:  ${prefix}npm run token -- user1@example.com [--ttl 8h]
Try it:       npx --yes wscat -c "${stack.wsUrl}/local?token=$(${token} | tail -1)"
Handlers reload when lambdas/ or migrations/ change${env.RELOAD === 'true' || env.RELOAD === '1' ? '' : ' (off: RELOAD=false)'}. Stop with Ctrl+C.
`
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`
}

async function waitHealthy(httpUrl: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${httpUrl}/health`).catch(() => undefined)
    if (response?.ok) return
    if (attempt >= 100) throw new Error(`GET ${httpUrl}/health did not answer 200 (last: ${response?.status ?? 'no answer'})`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function fail(error: unknown): never {
  process.stderr.write(`trainer-chat: ${explainStartupError(error)}\n`)
  if (level === 'debug' && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n${error.cause instanceof Error ? `caused by: ${error.cause.stack ?? ''}\n` : ''}`)
  else process.stderr.write('(LOG_LEVEL=debug shows the stack trace)\n')
  process.exit(1)
}

function installShutdown(stack: { stop(): Promise<void> }): void {
  let stopping = false
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    console.log(`\n${signal}: stopping…`)
    const timer = setTimeout(() => {
      console.error('did not stop within 10 s; exiting')
      process.exit(1)
    }, 10_000)
    await stack.stop()
    clearTimeout(timer)
    console.log('stopped cleanly')
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
}

/** The AWS SDK's notice about Node 20 is not ours to act on locally; every other warning stays. */
function quietSdkNodeWarning(): void {
  const original = process.listeners('warning')
  process.removeAllListeners('warning')
  process.on('warning', (warning) => {
    if (warning.name === 'NodeVersionSupportWarning' || warning.message.startsWith('NodeVersionSupportWarning')) return
    for (const listener of original) listener(warning)
  })
}
