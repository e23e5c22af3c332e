// npm run asyncapi: writes the AsyncAPI 3.0 document of the WebSocket protocol to docs/asyncapi.json,
// generated from the zod schemas in packages/protocol. test/integration/asyncapi.test.ts fails when
// the committed file drifts from them or stops validating.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as z from 'zod/mini'
import {
  CLIENT_FRAMES,
  ERROR_STATUS,
  HISTORY_DEFAULT_LIMIT,
  MAX_BODY_CHARS,
  MessageSchema,
  SERVER_FRAMES,
  type ErrorCode,
  type ServerFrameType,
} from '@trainer-chat/protocol'

export const ASYNCAPI_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'asyncapi.json')

type Json = Record<string, unknown>
type ClientAction = keyof typeof CLIENT_FRAMES

const CLIENT_SUMMARIES: Record<ClientAction, string> = {
  joinConversation: `Subscribe this connection to a conversation and get its history: the latest \`limit\` (default ${HISTORY_DEFAULT_LIMIT}) messages, or with \`afterSeq\` the messages after it, oldest first, \`hasMore\` for the next page. The other participant's joined connections get \`userJoined\`.`,
  leaveConversation: "Unsubscribe this connection; the other participant's joined connections get `userLeft`.",
  sendMessage: `Store a message (body 1-${MAX_BODY_CHARS} characters after trimming; optional with \`attachmentId\`) once per \`clientMessageId\`, then \`newMessage\` to every joined connection of both participants and always to the sender (the acknowledgement). The same \`clientMessageId\` again stores nothing and answers with the original message.`,
  typing: "Relay a typing indicator to the other participant's joined connections; nothing is stored. Excess frames are dropped (a `requestId` still gets its `ok`).",
  markAsRead: "Mark the other participant's messages read up to and including `messageId`; joined connections get `messageRead`.",
  ping: 'Heartbeat, answered `pong` by API Gateway itself (a MOCK integration, no Lambda). Keeps the connection inside the 10-minute idle timeout.',
  editMessage: `Replace the body of one of the caller's own messages (1-${MAX_BODY_CHARS} characters after trimming) within MESSAGE_EDIT_WINDOW_SECONDS (default 900) of sending; not on a deleted or removed message, not in a closed conversation. The caller and every joined connection of both participants get \`messageUpdated\` (the caller's carries its requestId).`,
  deleteMessage: "Delete one of the caller's own messages (no time limit): it keeps its seq with an empty body, no attachment and `deletedAt` set. The caller and every joined connection of both participants get `messageDeleted`; deleting it again changes nothing and answers `messageDeleted` to the caller alone.",
  react: 'Add (`on: true`) or take back (`on: false`) the caller\'s reaction with one emoji of the configured set (REACTION_EMOJI) on a message; at most one of each per user per message. The caller and every joined connection of both participants get `reactionChanged` with all the reactions; when nothing changed, only the caller gets it.',
}

/** What answers each client action (its one reply when it carries a requestId). */
const REPLIES: Record<ClientAction, ServerFrameType[]> = {
  joinConversation: ['conversationHistory', 'error'],
  leaveConversation: ['ok', 'error'],
  sendMessage: ['newMessage', 'error'],
  typing: ['ok', 'error'],
  markAsRead: ['ok', 'error'],
  ping: ['pong'],
  editMessage: ['messageUpdated', 'error'],
  deleteMessage: ['messageDeleted', 'error'],
  react: ['reactionChanged', 'error'],
}

const SERVER_SUMMARIES: Record<ServerFrameType, string> = {
  conversationHistory: 'The answer to joinConversation: messages oldest first, `hasMore` when another page exists.',
  newMessage: "A stored message: the sender's acknowledgement (with its `requestId`) or a live message for a joined connection.",
  newMessageNotification: 'A new message in a conversation this connection has not joined.',
  userJoined: 'The other participant joined the conversation on a connection.',
  userLeft: 'The other participant left the conversation on a connection (leaveConversation), or their last connection that had joined it went away.',
  userTyping: 'The other participant is typing, or stopped.',
  messageRead: "The other participant read the messages up to `messageId`.",
  conversationClosed: 'An admin closed the conversation; it is read-only now.',
  messageRemoved: 'A moderator hid a message; its body and attachment are withheld from now on.',
  ok: 'The answer to markAsRead, typing or leaveConversation when they carry a requestId.',
  pong: 'The answer to ping.',
  error: 'A refused or failed request; `requestId` when the request had one. A refused frame changes nothing.',
  messageUpdated: "A message was edited: the message as it now reads, with `editedAt`. The answer to editMessage (with its `requestId`), or live for a joined connection.",
  messageDeleted: 'A message was deleted by its sender: it keeps its seq; its body is empty and its attachment and reactions gone. The answer to deleteMessage (with its `requestId`), or live for a joined connection.',
  reactionChanged: "A message's reactions changed: all of them as they now stand. The answer to react (with its `requestId`), or live for a joined connection.",
  presence:
    "The other participant came online (their first live connection opened) or went offline (their last one closed); `lastSeenAt` is null while online and for a user who does not share presence.",
  conversationOpened: 'An admin reopened the conversation or assigned the member a new trainer: it can be used now (refresh it with joinConversation).',
}

const ERROR_MEANINGS: Record<ErrorCode, string> = {
  bad_request: 'not JSON, unknown action, missing or invalid fields (`details.issues` names them), an emoji outside the configured set (`details.allowed` lists them)',
  unauthorized: "the connection's token expired or the account was disabled; the connection is then closed",
  forbidden: 'not a participant; editing or deleting a message of the other participant; editing after the edit window (`details.reason` is `edit_window_passed`)',
  not_found: 'no such conversation or message (a message of another conversation included, a reply target too)',
  conflict: 'an attachment already used; editing or reacting to a deleted or removed message',
  conversation_closed: 'closed conversations are read-only',
  too_large: 'the body is over the limit',
  rate_limited: 'sending too fast: `details.retryAfterMs` says when the same clientMessageId will go through',
  internal: 'a failure on our side: retry with the same clientMessageId',
  unavailable: 'a dependency (S3) is down: retry later',
}

/** A zod schema as the document's payload: JSON Schema draft-07 (what AsyncAPI schemas extend). */
function payload(schema: z.ZodMiniType): Json {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Json
  return json
}

export function asyncApiDocument(): Json {
  const messages: Record<string, Json> = {}
  const channelMessages: Record<string, Json> = {}
  const operations: Record<string, Json> = {}
  const ref = (name: string) => ({ $ref: `#/channels/chat/messages/${name}` })

  for (const [action, schema] of Object.entries(CLIENT_FRAMES) as [ClientAction, z.ZodMiniType][]) {
    messages[action] = { name: action, title: action, summary: CLIENT_SUMMARIES[action], payload: payload(schema) }
    channelMessages[action] = { $ref: `#/components/messages/${action}` }
  }
  for (const [type, schema] of Object.entries(SERVER_FRAMES) as [ServerFrameType, z.ZodMiniType][]) {
    const name = `${type}Frame`
    const summary = type === 'error'
      ? `${SERVER_SUMMARIES.error} Codes: ${(Object.keys(ERROR_STATUS) as ErrorCode[]).map((code) => `\`${code}\` (${ERROR_MEANINGS[code]})`).join('; ')}.`
      : SERVER_SUMMARIES[type]
    messages[name] = { name: type, title: type, summary, payload: payload(schema) }
    channelMessages[name] = { $ref: `#/components/messages/${name}` }
  }
  for (const action of Object.keys(CLIENT_FRAMES) as ClientAction[]) {
    operations[action] = {
      action: 'receive',
      channel: { $ref: '#/channels/chat' },
      summary: CLIENT_SUMMARIES[action],
      messages: [ref(action)],
      reply: { channel: { $ref: '#/channels/chat' }, messages: REPLIES[action].map((type) => ref(`${type}Frame`)) },
    }
  }
  for (const type of Object.keys(SERVER_FRAMES) as ServerFrameType[]) {
    operations[`send${type.charAt(0).toUpperCase()}${type.slice(1)}`] = {
      action: 'send',
      channel: { $ref: '#/channels/chat' },
      summary: SERVER_SUMMARIES[type],
      messages: [ref(`${type}Frame`)],
    }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'trainer-chat WebSocket API',
      version: '1.0.0',
      description:
        'The chat protocol between the apps and the API Gateway WebSocket API, described from the server\'s side: it receives client actions (selected by `action`) and sends frames (told apart by `type`). ' +
        'Any client frame may carry `requestId` (at most 64 characters); a frame that carries one gets exactly one reply carrying it (its result, `ok`, or `error`). ' +
        'API Gateway closes a connection idle for 10 minutes and every connection after 2 hours. Generated from packages/protocol; do not edit by hand (npm run asyncapi).',
    },
    defaultContentType: 'application/json',
    servers: {
      aws: {
        host: '{apiId}.execute-api.{region}.amazonaws.com',
        pathname: '/{stage}',
        protocol: 'wss',
        description: 'API Gateway WebSocket API; authenticate with `Authorization: Bearer <jwt>` or `?token=<jwt>` on the handshake (401 otherwise).',
        variables: { apiId: { description: 'the WebSocket API id' }, region: { default: 'eu-west-1' }, stage: { enum: ['dev', 'prod'], default: 'prod' } },
      },
      local: { host: '127.0.0.1:3001', pathname: '/local', protocol: 'ws', description: 'npm run dev' },
    },
    channels: {
      chat: {
        address: '/',
        title: 'The chat connection',
        messages: channelMessages,
        bindings: {
          ws: {
            query: { type: 'object', properties: { token: { type: 'string', description: 'a Cognito ID token, when no Authorization header can be sent' } } },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
    operations,
    components: {
      messages,
      schemas: {
        Message: payload(MessageSchema),
        ErrorCode: { type: 'string', enum: Object.keys(ERROR_STATUS), description: 'The protocol error codes (see the error frame).' },
      },
    },
  }
}

/** The exact bytes of docs/asyncapi.json. */
export function renderAsyncApi(): string {
  return `${JSON.stringify(asyncApiDocument(), null, 2)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await mkdir(dirname(ASYNCAPI_FILE), { recursive: true })
  await writeFile(ASYNCAPI_FILE, renderAsyncApi())
  console.log(`wrote ${ASYNCAPI_FILE}`)
}
