import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startTestStack, type TestStack } from '../helpers/stack.ts'

/** `npm run chat` as a member would use it, driven through stdin, with the trainer on a raw WebSocket. */

const root = fileURLToPath(new URL('../..', import.meta.url))
let stack: TestStack
before(async () => {
  stack = await startTestStack()
})
after(() => stack.close())

function startChat(email: string): { child: ChildProcessWithoutNullStreams; output: () => string; waitFor(pattern: RegExp): Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/chat-cli.ts', email], {
    cwd: root,
    env: { ...process.env, DATA_DIR: stack.dataDir, HOST: '127.0.0.1', HTTP_PORT: String(stack.http.port), WS_PORT: String(stack.ws.port), LOG_LEVEL: 'error' },
  })
  let output = ''
  const waiters: Array<() => void> = []
  child.stdout.on('data', (chunk) => {
    output += String(chunk)
    for (const wake of waiters.splice(0)) wake()
  })
  child.stderr.on('data', (chunk) => (output += String(chunk)))
  return {
    child,
    output: () => output,
    async waitFor(pattern) {
      const deadline = Date.now() + 60_000
      while (!pattern.test(output)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in:\n${output}`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 500)
          waiters.push(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
    },
  }
}

test('the terminal chat lists the conversation, shows live messages, typing and reads, and sends each line typed', async () => {
  const { body } = await stack.api('/conversations', { email: 'trainer1@example.com' })
  const conversationId: string = body.conversations[0].id
  const trainer = await stack.connect('trainer1@example.com')
  await trainer.request({ action: 'joinConversation', conversationId })
  const chat = startChat('user1@example.com')

  await chat.waitFor(/Conversation with your coach/)
  await chat.waitFor(/\(coach is here\)|Type a message/)
  await trainer.nextOfType('userJoined', 60_000)
  const ack = await trainer.request({ action: 'sendMessage', conversationId, clientMessageId: 'cli-1', body: 'Ready for leg day?' })
  await chat.waitFor(/\[#1 \d\d:\d\d\] coach: Ready for leg day\?/)
  const read = await trainer.nextOfType('messageRead', 60_000)
  assert.equal(read.messageId, ack.message.id, 'the chat marked what it showed as read')

  trainer.send({ action: 'typing', conversationId, isTyping: true })
  await chat.waitFor(/\(coach is typing…\)/)

  chat.child.stdin.write('Always!\n')
  const delivered = await trainer.nextOfType('newMessage', 60_000)
  assert.equal(delivered.message.body, 'Always!')
  await chat.waitFor(/\[#2 \d\d:\d\d\] you: Always!/)

  trainer.send({ action: 'markAsRead', conversationId, messageId: delivered.message.id })
  await chat.waitFor(/\(coach read up to /)

  chat.child.stdin.write('/quit\n')
  const [code] = await once(chat.child, 'exit')
  assert.equal(code, 0, chat.output())
  trainer.close()
})
