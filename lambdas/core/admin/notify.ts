import type { ServerFrame } from '@trainer-chat/protocol'
import { forgetGone } from '../presence.ts'
import type { AdminConversation, AdminMessage, Notified } from './model.ts'
import type { Announcer } from './ports.ts'

/** What live connections hear about an admin change, always after its commit. */

/** Both participants' live connections hear `conversationClosed`. */
export async function announceClosed(ports: Announcer, closed: Notified<AdminConversation>, reason: string): Promise<void> {
  await notify(ports, closed.connectionIds, { type: 'conversationClosed', conversationId: closed.value.id, reason })
}

/** Both participants' live connections hear `messageRemoved`. */
export async function announceHidden(ports: Announcer, hidden: Notified<AdminMessage>): Promise<void> {
  const { conversationId, id: messageId } = hidden.value
  await notify(ports, hidden.connectionIds, { type: 'messageRemoved', conversationId, messageId })
}

/** Each closed conversation's participants hear `conversationClosed` with the system's reason. */
export async function announceAllClosed(ports: Announcer, closed: readonly Notified<string>[], reason: string): Promise<void> {
  for (const { value: conversationId, connectionIds } of closed) {
    await notify(ports, connectionIds, { type: 'conversationClosed', conversationId, reason })
  }
}

/** The `conversationOpened` frame for a conversation as admins see it, to the given connections. */
export async function announceOpened(ports: Announcer, connectionIds: readonly string[], conversation: AdminConversation): Promise<void> {
  const { id, status, member, trainer, updatedAt } = conversation
  await notify(ports, connectionIds, {
    type: 'conversationOpened',
    conversation: { id, userId: member.id, trainerId: trainer.id, status, updatedAt },
  })
}

/** Closes live connections whose rows the committed transaction deleted (DeleteConnection). */
export async function disconnectAll(ports: Announcer, connectionIds: readonly string[]): Promise<void> {
  await Promise.all(connectionIds.map((connectionId) => ports.delivery.disconnect(connectionId)))
}

async function notify(ports: Announcer, connectionIds: readonly string[], frame: ServerFrame): Promise<void> {
  if (connectionIds.length === 0) return
  const report = await ports.delivery.post(connectionIds.map((connectionId) => ({ connectionId, frame })))
  if (report.failed.length > 0) ports.log.warn('delivery failed for some connections', { failed: report.failed })
  // The other participants hear userLeft / presence for connections found gone (#13).
  await forgetGone(ports, report.gone)
}
