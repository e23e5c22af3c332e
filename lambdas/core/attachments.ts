import { ChatError } from './errors.ts'
import { BIDI_CONTROLS } from './identity.ts'
import type { AttachmentInfo, Message, StoredMessage } from './model.ts'
import type { AttachmentStorage, AttachmentVerdict, StoredObject } from './ports.ts'

/**
 * Attachment rules shared by the upload route and sendMessage: which files are accepted, where
 * their objects live, why one may not be sent, and signing a download URL for each reader.
 */

export interface AttachmentPolicy {
  maxBytes: number
  /** Bare media types, lower case. */
  contentTypes: readonly string[]
  /** How long after the upload URL was issued the attachment may still be sent. */
  useWithinSeconds: number
}

export interface UploadRequest {
  fileName: string
  contentType: string
  size: number
}

const MAX_FILE_NAME_CHARS = 255

/** The object key: chosen by the server from ids, never from the client's file name. */
export function attachmentKey(conversationId: string, attachmentId: string): string {
  return `conversations/${conversationId}/${attachmentId}`
}

/** Checks a requested upload against the policy; returns it with a clean file name and a lower-case type. */
export function normalizeUpload(policy: AttachmentPolicy, request: UploadRequest): UploadRequest {
  const contentType = request.contentType.trim().toLowerCase()
  if (!policy.contentTypes.includes(contentType)) {
    throw new ChatError('bad_request', `contentType ${JSON.stringify(contentType)} is not allowed`, {
      field: 'contentType',
      allowed: policy.contentTypes,
    })
  }
  if (request.size > policy.maxBytes) {
    throw new ChatError('bad_request', `size is ${request.size} bytes; the limit is ${policy.maxBytes}`, {
      field: 'size',
      limit: policy.maxBytes,
    })
  }
  return { fileName: cleanFileName(request.fileName), contentType, size: request.size }
}

/**
 * The last path segment, without control characters and bidi controls (`invoice\u202Efdp.exe`
 * would show as "invoiceexe.pdf"); it is shown to people, never used as a key.
 */
export function cleanFileName(fileName: string): string {
  const base = fileName.split(/[/\\]/).pop() ?? ''
  const cleaned = base.normalize('NFC').replace(/[\uD800-\uDFFF]/gu, '').replace(/\p{Cc}/gu, '').replace(BIDI_CONTROLS, '').trim()
  const chars = [...cleaned]
  if (chars.length === 0 || cleaned === '.' || cleaned === '..') {
    throw new ChatError('bad_request', 'fileName must name a file', { field: 'fileName' })
  }
  return chars.length <= MAX_FILE_NAME_CHARS ? cleaned : chars.slice(chars.length - MAX_FILE_NAME_CHARS).join('')
}

type Refusal = [code: 'bad_request' | 'forbidden' | 'not_found' | 'conflict', message: string]

/** Each verdict that refuses the attachment: the refusal's code and what the sender reads. */
const REFUSALS: Record<Exclude<AttachmentVerdict, 'none' | 'ok'>, Refusal> = {
  not_found: ['not_found', 'Attachment not found'],
  forbidden: ['forbidden', 'This attachment was uploaded by someone else or for another conversation'],
  used: ['conflict', 'This attachment was already sent in another message'],
  expired: ['bad_request', 'This attachment was never sent in time; request a new upload'],
  not_uploaded: ['bad_request', 'The attachment has not been uploaded yet'],
  type_mismatch: ['bad_request', 'The uploaded file does not have the declared content type'],
  size_mismatch: ['bad_request', 'The uploaded file does not have the declared size'],
}

/** Turns the send statement's attachment verdict into the refusal the sender sees. */
export function assertAttachmentUsable(verdict: AttachmentVerdict): void {
  if (verdict === 'none' || verdict === 'ok') return
  const [code, message] = REFUSALS[verdict]
  throw new ChatError(code, message, { field: 'attachmentId', reason: verdict })
}

/** What storage holds for an attachment, asked before the send statement (which compares it to the declaration). */
export async function inspectUpload(
  storage: AttachmentStorage | undefined,
  conversationId: string,
  attachmentId: string,
): Promise<StoredObject | null> {
  if (!storage) throw new ChatError('unavailable', 'File sharing is not available')
  try {
    return await storage.head(attachmentKey(conversationId, attachmentId))
  } catch (error) {
    throw new ChatError('unavailable', 'File storage is unavailable; please retry', undefined, { cause: error })
  }
}

/** "sent a photo" / "sent a file": the words for a message that is only an attachment. */
export function describeAttachment(attachment: AttachmentInfo | null): string {
  if (!attachment) return ''
  return attachment.contentType.startsWith('image/') ? 'sent a photo' : 'sent a file'
}

/** Gives each attachment a short-lived download URL for the reader (a local signature, no network). */
export async function signMessages(storage: AttachmentStorage | undefined, messages: readonly StoredMessage[]): Promise<Message[]> {
  return Promise.all(messages.map((message) => signMessage(storage, message)))
}

export async function signMessage(storage: AttachmentStorage | undefined, message: StoredMessage): Promise<Message> {
  const { attachment } = message
  if (!attachment) return { ...message, attachment: null }
  if (!storage) throw new Error('a message carries an attachment but no attachment storage is configured')
  const downloadUrl = await storage.presignDownload({
    key: attachmentKey(message.conversationId, attachment.id),
    fileName: attachment.fileName,
    contentType: attachment.contentType,
  })
  return { ...message, attachment: { ...attachment, downloadUrl } }
}

/** Signs the last message of each conversation in a list. */
export async function signLastMessages<T extends { lastMessage: StoredMessage | null }>(
  storage: AttachmentStorage | undefined,
  summaries: readonly T[],
): Promise<Array<Omit<T, 'lastMessage'> & { lastMessage: Message | null }>> {
  return Promise.all(
    summaries.map(async (summary) => ({
      ...summary,
      lastMessage: summary.lastMessage ? await signMessage(storage, summary.lastMessage) : null,
    })),
  )
}
