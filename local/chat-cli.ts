import { createInterface, emitKeypressEvents } from 'node:readline'
import WebSocket from 'ws'
import { ChatClient, type Message, type WebSocketConstructor } from '../client/src/index.ts'
import { readLocalEnv } from './env.ts'
import { mintLocalToken } from './local-token.ts'

/**
 * `npm run chat -- <email> [--conversation <id>]`: a terminal chat on the client SDK against the
 * local stack. Lists the caller's conversations, shows the latest messages, then live messages,
 * typing and read receipts; every line typed is sent. `/history` shows older messages, `/quit`
 * leaves. Run one for a member and one for their trainer to chat.
 */
const args = process.argv.slice(2)
const email = args.find((arg) => !arg.startsWith('--'))
if (!email) {
  console.error('usage: npm run chat -- <email> [--conversation <id>]')
  process.exit(2)
}
const chosen = args.includes('--conversation') ? args[args.indexOf('--conversation') + 1] : undefined

const env = readLocalEnv()
const httpUrl = `http://${env.HOST}:${env.HTTP_PORT}`
const token = async () => (await mintLocalToken(env, email)).token

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${httpUrl}${path}`, { headers: { authorization: `Bearer ${await token()}` } })
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`)
  return (await response.json()) as T
}

interface Summary {
  id: string
  userId: string
  trainerId: string
  status: string
  unreadCount: number
  lastMessage: Message | null
}

let me: { id: string; displayName: string; role: string }
let conversations: Summary[]
try {
  me = await api('/me')
  ;({ conversations } = await api<{ conversations: Summary[] }>('/conversations'))
} catch (error) {
  console.error(`Cannot reach the local stack at ${httpUrl} (is \`npm run dev\` running?): ${(error as Error).message}`)
  process.exit(1)
}

const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true })
const lines = rl[Symbol.asyncIterator]()
const ask = async (question: string): Promise<string | undefined> => {
  process.stdout.write(question)
  const next = await lines.next()
  return next.done ? undefined : String(next.value).trim()
}

console.log(`Signed in as ${me.displayName} (${me.role}). Conversations:`)
conversations.forEach((c, i) => {
  const other = me.id === c.userId ? 'your trainer' : `member ${c.userId.slice(0, 8)}`
  const last = c.lastMessage ? `"${c.lastMessage.body.slice(0, 40)}"` : 'no messages yet'
  console.log(`  ${i + 1}. with ${other} [${c.status}], ${c.unreadCount} unread, last: ${last}`)
})
if (conversations.length === 0) {
  console.log('No conversations: a member needs an assigned trainer (see the admin API).')
  process.exit(0)
}
let picked = conversations.find((c) => c.id === chosen) ?? (conversations.length === 1 ? conversations[0] : undefined)
while (!picked) {
  const answer = await ask(`Pick a conversation [1-${conversations.length}]: `)
  if (answer === undefined) process.exit(0)
  picked = conversations[Number(answer) - 1]
}
const summary = picked
const otherName = me.id === summary.userId ? 'coach' : 'member'
const nameOf = (senderId: string) => (senderId === me.id ? 'you' : otherName)
const time = (iso: string) => new Date(iso).toTimeString().slice(0, 5)
const show = (message: Message) =>
  console.log(`[#${message.seq} ${time(message.createdAt)}] ${nameOf(message.senderId)}: ${message.removed ? '(removed by a moderator)' : message.body}${message.attachment ? ` [file ${message.attachment.fileName}]` : ''}`)

const client = new ChatClient({ url: `ws://${env.HOST}:${env.WS_PORT}/local`, httpUrl, token, WebSocket: WebSocket as unknown as WebSocketConstructor })
client.on('state', (state) => {
  if (state !== 'open' && state !== 'connecting') console.log(`(connection ${state})`)
})
client.on('error', (error) => console.log(`(error: ${error.code} ${error.message})`))

const conversation = client.conversation(summary.id)
conversation.on('message', (message) => {
  show(message)
  if (message.senderId !== me.id) void conversation.markRead(message.id).catch(() => {})
})
conversation.on('typing', ({ isTyping }) => console.log(isTyping ? `(${otherName} is typing…)` : `(${otherName} stopped typing)`))
conversation.on('read', ({ messageId }) => console.log(`(${otherName} read up to ${messageId.slice(0, 8)})`))
conversation.on('presence', ({ joined }) => console.log(`(${otherName} ${joined ? 'is here' : 'left'})`))
conversation.on('closed', ({ reason }) => console.log(`(conversation closed: ${reason})`))
conversation.on('update', (update) => {
  const id = update.messageId.slice(0, 8)
  if (update.type === 'removed') console.log(`(message ${id} was removed by a moderator)`)
  else if (update.type === 'deleted') console.log(`(message ${id} was deleted)`)
  else if (update.type === 'edited') console.log(`(message ${id} was edited: ${update.message.body})`)
  else console.log(`(reactions on ${id}: ${update.reactions.map((r) => `${r.emoji} ${r.userIds.length}`).join(' ') || 'none'})`)
})

console.log(`Conversation with your ${otherName}. Type a message and press Enter; /history for older messages, /quit to leave.`)
await client.connect()

// In a terminal, keystrokes say "typing" (at most every 3 s); Enter ends it.
let typingSince = 0
if (process.stdin.isTTY) {
  emitKeypressEvents(process.stdin)
  process.stdin.on('keypress', (_text, key: { name?: string } | undefined) => {
    if (key?.name === 'return') return
    if (Date.now() - typingSince > 3000) {
      typingSince = Date.now()
      conversation.typing(true)
    }
  })
}

let oldest: number | undefined
const sending = new Set<Promise<unknown>>()
for (;;) {
  const next = await lines.next()
  if (next.done) break
  const line = String(next.value).trim()
  if (line === '/quit') break
  if (line === '/history') {
    const before = oldest ?? conversation.firstSeq
    const page = await conversation.history({ ...(before === undefined ? {} : { before }), limit: 20 })
    page.messages.forEach(show)
    oldest = page.messages[0]?.seq ?? oldest
    if (!page.hasMore) console.log('(start of the conversation)')
    continue
  }
  if (line === '') continue
  if (typingSince) {
    typingSince = 0
    conversation.typing(false)
  }
  const sent = conversation.send(line).catch((error: Error) => console.log(`(not sent: ${error.message})`))
  sending.add(sent)
  void sent.finally(() => sending.delete(sent))
}
// Let what is still in the outbox go out before leaving (the outbox is in memory here).
await Promise.race([Promise.allSettled([...sending]), new Promise((resolve) => setTimeout(resolve, 5000))])
await client.close()
rl.close()
process.exit(0)
