import { buildConsole } from '../scripts/build-console.mjs'
import { readLocalEnv } from './env.ts'
import { startLocalStack } from './stack.ts'

/** `npm run dev`: starts the local stack and keeps it up until SIGINT/SIGTERM. */
const env = readLocalEnv()
process.env.LOG_LEVEL ??= 'info'

// The console is served from console/dist: rebuild it first when its sources changed (it says so).
// A failed build leaves the API up; /console/ then says the console is not built.
try {
  buildConsole()
} catch (error) {
  console.error(`console not rebuilt: ${error instanceof Error ? error.message : String(error)}`)
}

const stack = await startLocalStack({
  dataDir: env.DATA_DIR,
  host: env.HOST,
  httpPort: env.HTTP_PORT,
  wsPort: env.WS_PORT,
  databaseUrl: env.DATABASE_URL,
  awsPort: env.AWS_PORT,
  awsEndpointUrl: env.AWS_ENDPOINT_URL,
  log: (line) => console.error(line),
})

console.log(`
trainer-chat local stack is up
  database   ${stack.databaseKind === 'pglite' ? `embedded PGlite in ${env.DATA_DIR}/pgdata` : 'DATABASE_URL'}
  REST       ${stack.httpUrl}            (GET /health, /me, /conversations, ...)
  WebSocket  ${stack.wsUrl}/${'local'}   (?token=<jwt> or Authorization: Bearer <jwt>)
  JWKS       ${stack.issuer.issuer}/.well-known/jwks.json
  Console    ${stack.httpUrl}/console/   (moderation console; sign in as admin@example.com)
  AWS        ${stack.awsUrl}            (S3 attachments, SNS push; ${stack.aws ? `local edge, data in ${env.DATA_DIR}/aws` : 'AWS_ENDPOINT_URL'})
             pushes sent: GET ${stack.awsUrl}/_aws/sns/platform-endpoint-messages

Demo users: admin@example.com, trainer1@example.com, trainer2@example.com,
            user1@example.com (trainer1), user2@example.com (trainer2)
Get a token:  npm run token -- user1@example.com
Try it:       npx wscat -c "${stack.wsUrl}/local?token=$(npm run -s token -- user1@example.com | tail -1)"
Stop with Ctrl+C.
`)

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
