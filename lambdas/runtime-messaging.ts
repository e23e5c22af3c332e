import type { ChatPorts } from './core/chat.ts'
import { chatPorts, onRuntimeReset } from './runtime.ts'
import { attachmentStorage } from './runtime-attachments.ts'
import { pushPorts } from './runtime-push.ts'

let ports: ChatPorts | undefined
onRuntimeReset(() => (ports = undefined))

/** The chat ports plus attachments and push: only sendMessage and joinConversation need them. */
export function messagingPorts(): ChatPorts {
  return (ports ??= { ...chatPorts(), storage: attachmentStorage(), push: pushPorts() })
}
