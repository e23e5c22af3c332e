import { assertAccess } from './chat.ts'
import { ChatError } from './errors.ts'
import type { Identity, PageSize } from './model.ts'
import type { Verdict } from './ports.ts'

/**
 * Full-text search over the messages a caller may read: one conversation, or every conversation
 * they take part in. The rules live in the statements (lambdas/adapters/search-store.ts), which
 * apply the participant rule of history (a member finds only what the conversation with their
 * assigned trainer holds; a trainer what their current members' conversations hold) and never
 * return a removed (moderated) or deleted message.
 */

export const SEARCH_QUERY_MAX_CHARS = 200
export const SEARCH_PAGE: PageSize = { defaultLimit: 20, maxLimit: 50 }

/** A highlighted range of a snippet: UTF-16 offsets (JavaScript string indices), end exclusive. */
export interface Highlight {
  start: number
  end: number
}

export interface SearchHit {
  conversationId: string
  messageId: string
  seq: number
  senderId: string
  createdAt: string
  /** Plain text around the matching words (PostgreSQL's ts_headline), never markup. */
  snippet: string
  highlights: Highlight[]
}

/** Where the next page of a conversation's search starts: below this seq. */
export interface SeqKey {
  seq: number
}
/** Where the next page of a search across conversations starts: older than this message. */
export interface HitKey {
  at: string
  id: string
}

export interface SearchPage<K> {
  hits: SearchHit[]
  nextKey: K | null
}

export interface SearchStore {
  /** One statement: the caller's access to the conversation and a page of its hits, newest first. */
  inConversation(
    identity: Identity,
    conversationId: string,
    page: { q: string; limit: number; before?: SeqKey | undefined },
  ): Promise<{ verdict: Verdict } & SearchPage<SeqKey>>
  /** One statement: a page of hits over every conversation the caller may read, newest first. */
  everywhere(identity: Identity, page: { q: string; limit: number; after?: HitKey | undefined }): Promise<{ disabled: boolean } & SearchPage<HitKey>>
}

export async function searchConversation(
  store: SearchStore,
  identity: Identity,
  input: { conversationId: string; q: string; limit: number; cursor?: SeqKey | undefined },
): Promise<SearchPage<SeqKey>> {
  const { verdict, hits, nextKey } = await store.inConversation(identity, input.conversationId, { q: input.q, limit: input.limit, before: input.cursor })
  assertAccess(verdict, 'read')
  return { hits, nextKey }
}

/** Admins take part in no conversation, so they find nothing here (they read through the admin API). */
export async function searchEverywhere(
  store: SearchStore,
  identity: Identity,
  input: { q: string; limit: number; cursor?: HitKey | undefined },
): Promise<SearchPage<HitKey>> {
  const { disabled, hits, nextKey } = await store.everywhere(identity, { q: input.q, limit: input.limit, after: input.cursor })
  if (disabled) throw new ChatError('forbidden', 'This account is disabled')
  return { hits, nextKey }
}
