/**
 * Issue 12 item 2: the sendMessage handler's own code per invocation, with the store and the
 * Management API stubbed (no I/O), in µs (not part of `npm run bench`). `local` is the handler as
 * the local stack and the bench build it; `lambda` adds the Lambda middlewares (Powertools log
 * context, the metrics line, written to a discarded stdout); `sign2` is the SigV4 signing of two posts.
 *
 *   npx tsx bench/micro-send.ts            # ONLY=local,lambda,sign2 R=5 PER=4000
 */
import { parseConfig } from '../lambdas/config.ts'
import { createBase } from '../lambdas/wiring/base.ts'
import { createSendMessageHandler } from '../lambdas/handlers/ws-send-message.ts'
import { createWebSocketDelivery } from '../lambdas/adapters/websocket-delivery.ts'
import { createSigner } from '../lambdas/adapters/sigv4.ts'
import { invoke } from '@trainer-chat/aws-edge'
import { NO_PUSH } from '../lambdas/core/push.ts'

const config = parseConfig({ LOG_LEVEL: 'error', CONNECTIONS_ENDPOINT: 'http://127.0.0.1:1/local', JWT_ISSUER: 'http://x', JWT_AUDIENCE: 'a', DATABASE_URL: 'postgres://x' } as never)
const conversationId = '7d1c2c55-8e8f-4e77-9a55-3c8b9f0a1b2c'
const sender = '2f9b6f5e-1d2a-4a4e-8f3b-111111111111'
let n = 0
const stored = () => ({
  verdict: 'ok' as const, duplicate: false, listeners: [
    { connectionId: 'member-conn=', userId: sender, joined: true },
    { connectionId: 'trainer-conn=', userId: '2f9b6f5e-1d2a-4a4e-8f3b-222222222222', joined: true },
  ], attachmentVerdict: 'none' as const, push: null,
  message: { id: `0b3c8f0e-0000-4000-8000-${String(n++).padStart(12, '0')}`, conversationId, seq: n, senderId: sender, body: 'Great session today! Same time on Thursday, and remember to stretch.', createdAt: new Date().toISOString(), attachment: null, replyToId: null, editedAt: null, deletedAt: null, reactions: [] },
})
const store = { sendMessage: async () => stored() } as never
const client = { postToConnection: async () => {}, deleteConnection: async () => {}, getConnection: async () => {}, destroy() {} }
const build = (lambda: boolean) => {
  const base = createBase(config, { lambda })
  const delivery = createWebSocketDelivery(client, base.log)
  return createSendMessageHandler({ store, delivery, log: base.log, metrics: base.metrics, storage: {} as never, push: { notifier: NO_PUSH, devices: {} as never } } as never, base.middlewares)
}
const event = () => ({
  requestContext: { routeKey: 'sendMessage', eventType: 'MESSAGE', connectionId: 'member-conn=', requestId: 'abc', domainName: 'x', stage: 'local', messageId: 'm', apiId: 'a', connectedAt: 1, requestTimeEpoch: 1, extendedRequestId: 'e', messageDirection: 'IN', identity: { sourceIp: '127.0.0.1' }, authorizer: { principalId: sender, userId: sender } },
  body: JSON.stringify({ action: 'sendMessage', requestId: `r-${n}`, conversationId, clientMessageId: `c-${n}`, body: 'Great session today! Same time on Thursday, and remember to stretch.' }),
  isBase64Encoded: false,
})
const signer = createSigner('execute-api', 'us-east-1')
const body = new TextEncoder().encode(JSON.stringify({ type: 'newMessage', message: stored().message }))
const variants: Record<string, () => Promise<unknown> | unknown> = {
  local: ((h) => () => invoke(h, event() as never, 'ws-send-message'))(build(false)),
  lambda: ((h) => () => invoke(h, event() as never, 'ws-send-message'))(build(true)),
  sign2: () => { for (let i = 0; i < 2; i++) signer.sign('POST', '/local/@connections/member-conn%3D', { host: '127.0.0.1:1', 'content-type': 'application/json' }, body, { accessKeyId: 'test', secretAccessKey: 'test' }, new Date()) },
}
// Powertools' metrics line goes to stdout: keep it out of the terminal.
const write = process.stdout.write.bind(process.stdout)
const only = (process.env.ONLY ?? 'local,lambda,sign2').split(',')
const rounds = Number(process.env.R ?? 5), per = Number(process.env.PER ?? 4000)
const results: Record<string, number[]> = {}
process.stdout.write = (() => true) as never
for (let r = 0; r < rounds + 1; r++) for (const name of only) {
  const run = variants[name]!
  const t0 = performance.now()
  for (let i = 0; i < per; i++) await run()
  if (r > 0) (results[name] ??= []).push((performance.now() - t0) * 1000 / per)
}
process.stdout.write = write
for (const [name, xs] of Object.entries(results)) console.log(`${name.padEnd(8)} µs/invocation median ${xs.sort((a, b) => a - b)[xs.length >> 1]!.toFixed(1)}  (${xs.map((x) => x.toFixed(0)).join(' ')})`)
