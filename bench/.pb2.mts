import { createServer, request as httpRequest, Agent } from 'node:http'
import { once } from 'node:events'
import { createManagementApi } from '../lambdas/adapters/management-api.ts'
import { createSigner } from '../lambdas/adapters/sigv4.ts'
const server = createServer((q, r) => { q.resume(); q.on('end', () => { r.writeHead(200, { 'content-length': '0' }); r.end() }) })
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1'); await once(server, 'listening')
const port = (server.address() as any).port
const api = createManagementApi({ endpoint: `http://127.0.0.1:${port}/local`, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, agent: { keepAlive: true, maxSockets: 128 } })
const body = new TextEncoder().encode(JSON.stringify({ type: 'newMessage', message: { id: '0b3c8f0e-0000-4000-8000-000000000000', conversationId: 'x', seq: 1, senderId: 'y', body: 'Great session today! Same time on Thursday, and remember to stretch.', createdAt: new Date().toISOString() } }))
const signer = createSigner('execute-api', 'us-east-1')
const agent = new Agent({ keepAlive: true, maxSockets: 128 })
const alt = (id: string, arrayHeaders: boolean) => new Promise<void>((resolve, reject) => {
  const path = `/local/@connections/${id}`
  const headers: Record<string, string> = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' }
  signer.sign('POST', path, headers, body, { accessKeyId: 'test', secretAccessKey: 'test' }, new Date())
  headers['content-length'] = String(body.byteLength)
  const h = arrayHeaders ? Object.entries(headers).flat() : headers
  const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: h as any, agent, setHost: false }, (res) => { res.on('data', () => {}); res.on('end', () => resolve()); res.on('error', reject) })
  req.on('error', reject)
  req.end(body)
})
const variants: Record<string, () => Promise<unknown>> = {
  client2: () => Promise.allSettled([api.postToConnection('member-conn%3D', body), api.postToConnection('trainer-conn%3D', body)]),
  obj2: () => Promise.allSettled([alt('member-conn%3D', false), alt('trainer-conn%3D', false)]),
  arr2: () => Promise.allSettled([alt('member-conn%3D', true), alt('trainer-conn%3D', true)]),
}
const res: Record<string, number[]> = {}
for (let r = 0; r < 8; r++) for (const [name, fn] of Object.entries(variants)) {
  const c0 = process.cpuUsage()
  for (let i = 0; i < 2000; i++) await fn()
  const c = process.cpuUsage(c0)
  if (r) (res[name] ??= []).push((c.user + c.system) / 2000)
}
for (const [k, v] of Object.entries(res)) console.log(k, 'µs CPU per call (2 posts), median', v.sort((a, b) => a - b)[3]!.toFixed(0), v.map((x) => x.toFixed(0)).join(' '))
process.exit(0)
