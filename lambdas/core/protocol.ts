/** The WebSocket protocol lives in packages/protocol, shared with the client SDK. */
export * from '@trainer-chat/protocol'
