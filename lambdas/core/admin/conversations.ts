import { ChatError, requireFound } from '../errors.ts'
import type { ConversationStatus, Identity } from '../model.ts'
import { type Admin, listPage } from './actor.ts'
import { auditRecord } from './audit.ts'
import type { AdminConversation, AdminMessage, Notified } from './model.ts'
import { announceClosed, announceHidden, announceOpened } from './notify.ts'
import type { AdminPorts, AdminTransaction, ConversationFilter, ConversationState } from './ports.ts'

/**
 * Conversations and messages as moderators handle them: list and read them, close and reopen a
 * conversation, hide a message. Each change writes its audit row inside the request's
 * transaction; live connections hear about it only after the commit (notify.ts).
 */


export function listConversations(ports: AdminPorts, identity: Identity, filter: ConversationFilter) {
  return listPage(ports.store, identity, 'conversations', (tx) => tx.listConversations(filter))
}

export async function conversationHistory(
  ports: AdminPorts,
  identity: Identity,
  input: { conversationId: string; before?: number | undefined; limit: number },
) {
  const page = await ports.store.transaction(identity, (tx) => tx.conversationHistory(input.conversationId, input))
  if (!page.found) throw new ChatError('not_found', 'Conversation not found')
  return { messages: page.messages, hasMore: page.hasMore }
}

/**
 * Close a conversation: it becomes read-only for both participants (sendMessage answers
 * `conversation_closed`; history stays readable), and every live connection of both hears
 * `conversationClosed` with the admin's reason.
 */
export async function closeConversation(
  ports: AdminPorts,
  identity: Identity,
  input: { conversationId: string; reason: string },
): Promise<AdminConversation> {
  const closed = await ports.store.transaction(identity, async (tx, admin) => {
    const conversation = requireFound(await tx.loadConversation(input.conversationId), 'Conversation not found')
    if (conversation.status === 'closed') throw new ChatError('conflict', 'The conversation is already closed')
    return closeConversationStep(tx, admin, conversation, input.reason)
  })
  await announceClosed(ports, closed, input.reason)
  return closed.value
}

/**
 * Reopen a closed conversation. Refused (409) when the pair already has another open one (one
 * open conversation per member and trainer) or when the member has since moved to another
 * trainer: a reopened conversation neither participant could use would only mislead. After the
 * commit, both participants' live connections hear `conversationOpened` (#13).
 */
export async function reopenConversation(
  ports: AdminPorts,
  identity: Identity,
  input: { conversationId: string },
): Promise<AdminConversation> {
  const reopened = await ports.store.transaction(identity, async (tx, admin) => {
    const conversation = requireFound(await tx.loadConversation(input.conversationId), 'Conversation not found')
    if (conversation.status === 'open') throw new ChatError('conflict', 'The conversation is already open')
    if (conversation.participantErased) throw new ChatError('conflict', 'A participant of this conversation was erased')
    if (conversation.otherOpenId) {
      throw new ChatError('conflict', 'This member and trainer already have an open conversation', {
        openConversationId: conversation.otherOpenId,
      })
    }
    if (conversation.assignedTrainerId !== conversation.trainerId) {
      throw new ChatError('conflict', "The member is no longer assigned to this conversation's trainer", {
        assignedTrainerId: conversation.assignedTrainerId,
      })
    }
    const reopened = await tx.reopenConversation(conversation.id)
    const { memberId, trainerId } = conversation
    await tx.record(auditRecord(admin, 'conversation.reopened', conversation.id, null, { memberId, trainerId }))
    return reopened
  })
  await announceOpened(ports, reopened.connectionIds, reopened.value)
  return reopened.value
}

/** Hide a message: participants see it as removed (body withheld); admins keep the original. */
export async function hideMessage(
  ports: AdminPorts,
  identity: Identity,
  input: { messageId: string; reason: string },
): Promise<AdminMessage> {
  const hidden = await ports.store.transaction(identity, async (tx, admin) => {
    const message = requireFound(await tx.loadMessage(input.messageId), 'Message not found')
    if (message.hidden) throw new ChatError('conflict', 'The message is already removed')
    return hideMessageStep(tx, admin, message.id, input.reason)
  })
  await announceHidden(ports, hidden)
  return hidden.value
}

// ---- Steps shared with the moderation queue (core/reports.ts): each runs inside the caller's transaction, after its checks ----

/** Closes an open conversation and writes its audit row. */
export async function closeConversationStep(
  tx: AdminTransaction,
  admin: Admin,
  conversation: Pick<ConversationState, 'id' | 'memberId' | 'trainerId'>,
  reason: string,
): Promise<Notified<AdminConversation>> {
  const result = await tx.closeConversation(conversation.id, reason)
  const { memberId, trainerId } = conversation
  await tx.record(auditRecord(admin, 'conversation.closed', conversation.id, reason, { memberId, trainerId }))
  return result
}

/** Hides a visible message and writes its audit row. */
export async function hideMessageStep(tx: AdminTransaction, admin: Admin, messageId: string, reason: string): Promise<Notified<AdminMessage>> {
  const result = await tx.hideMessage(messageId, admin.userId, reason)
  const { conversationId, senderId } = result.value
  await tx.record(auditRecord(admin, 'message.hidden', messageId, reason, { conversationId, senderId }))
  return result
}
