import type { DataProvider, GetListParams, GetListResult, RaRecord } from 'react-admin'
import type { Fetcher } from './api.ts'
import type { AdminMessage, AdminReport, AdminUser, AuditEntry, Conversation, Me, ReportAction, Role } from './types.ts'

/**
 * react-admin over the admin routes. Lists page with the API's keyset cursors: page n is fetched
 * with the cursor page n-1 answered, remembered per list and filter (a jump ahead walks the pages
 * between). There are no totals, so lists show next/previous (react-admin's `pageInfo`).
 *
 * Where the API has no parameter for a filter (user search by email, the audit log's actor,
 * action and target) or no route for one record (a user, a conversation), the provider walks the
 * list pages (fresh on every call, so a record changed elsewhere is never shown stale) and filters in the browser, at most MAX_SCAN rows: right for an operator's console
 * over a few thousand rows, and the place to switch to server-side filters when they exist.
 */
export const MAX_SCAN = 2000
const SCAN_PAGE = 100

interface Page<T> {
  rows: T[]
  nextCursor: string | null
}

type ListKind = 'conversations' | 'users' | 'audit' | 'reports'

export interface ConsoleDataProvider extends DataProvider {
  me(): Promise<Me>
  closeConversation(id: string, reason: string): Promise<Conversation>
  reopenConversation(id: string): Promise<Conversation>
  hideMessage(id: string, reason: string): Promise<AdminMessage>
  assignTrainer(userId: string, trainerId: string, reason: string): Promise<unknown>
  changeRole(userId: string, role: Role, reason: string): Promise<AdminUser>
  setDisabled(userId: string, disabled: boolean, reason: string): Promise<AdminUser>
  resolveReport(id: string, action: ReportAction, note: string): Promise<AdminReport>
  /** Every row of a list that matches, up to MAX_SCAN (the dashboard's counts). */
  scan<T>(kind: ListKind, query: Record<string, string>): Promise<{ rows: T[]; complete: boolean }>
  history(conversationId: string): Promise<AdminMessage[]>
}

export function createDataProvider(api: Fetcher): ConsoleDataProvider {
  const cursors = new Map<string, Array<string | null>>()

  async function fetchPage<T extends RaRecord>(kind: ListKind, query: Record<string, string>, cursor: string | null, limit: number): Promise<Page<T>> {
    const params = new URLSearchParams({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) })
    const path = kind === 'audit' ? '/admin/audit' : `/admin/${kind}`
    const answer = await api<Record<string, unknown> & { nextCursor: string | null }>('GET', `${path}?${params}`)
    const rows = (answer[kind === 'audit' ? 'entries' : kind] ?? []) as T[]
    return { rows, nextCursor: answer.nextCursor }
  }

  async function scan<T extends RaRecord>(kind: ListKind, query: Record<string, string>, until?: (row: T) => boolean) {
    const rows: T[] = []
    let cursor: string | null = null
    do {
      const page: Page<T> = await fetchPage<T>(kind, query, cursor, SCAN_PAGE)
      rows.push(...page.rows)
      if (until && page.rows.some(until)) return { rows, complete: false }
      cursor = page.nextCursor
    } while (cursor && rows.length < MAX_SCAN)
    return { rows, complete: cursor === null }
  }

  async function cursorPage<T extends RaRecord>(kind: ListKind, query: Record<string, string>, page: number, perPage: number): Promise<GetListResult<T>> {
    const key = JSON.stringify([kind, query, perPage])
    const known = cursors.get(key) ?? [null]
    cursors.set(key, known)
    // known[i] is the cursor of page i + 1; walk forward to the one asked for.
    for (let i = known.length; i < page; i++) {
      const previous = known[i - 1]
      if (previous === null && i > 1) break
      const walked = await fetchPage<T>(kind, query, previous ?? null, perPage)
      known[i] = walked.nextCursor
      if (walked.nextCursor === null) return { data: [], pageInfo: { hasPreviousPage: true, hasNextPage: false } }
    }
    const answer = await fetchPage<T>(kind, query, known[page - 1] ?? null, perPage)
    known[page] = answer.nextCursor
    return { data: answer.rows, pageInfo: { hasPreviousPage: page > 1, hasNextPage: answer.nextCursor !== null } }
  }

  async function filteredPage<T extends RaRecord>(kind: ListKind, query: Record<string, string>, keep: (row: T) => boolean, page: number, perPage: number): Promise<GetListResult<T>> {
    const { rows } = await scan<T>(kind, query)
    const matches = rows.filter(keep)
    return { data: matches.slice((page - 1) * perPage, page * perPage), total: matches.length }
  }

  const text = (value: unknown) => (typeof value === 'string' ? value.trim().toLowerCase() : '')
  const defined = (filter: Record<string, unknown>, names: string[]) =>
    Object.fromEntries(names.filter((name) => typeof filter[name] === 'string' && filter[name] !== '').map((name) => [name, filter[name] as string]))

  async function getList(resource: string, params: GetListParams): Promise<GetListResult> {
    const { page, perPage } = params.pagination ?? { page: 1, perPage: 25 }
    const filter = (params.filter ?? {}) as Record<string, unknown>
    switch (resource) {
      case 'conversations':
        return cursorPage<Conversation & RaRecord>('conversations', defined(filter, ['status', 'trainerId', 'userId']), page, perPage)
      case 'users': {
        const query = defined(filter, ['role'])
        const q = text(filter.q)
        const enabledOnly = filter.enabled === true
        if (!q && !enabledOnly) return cursorPage<AdminUser & RaRecord>('users', query, page, perPage)
        return filteredPage<AdminUser & RaRecord>(
          'users',
          query,
          (user) => (!q || user.email.toLowerCase().includes(q)) && (!enabledOnly || user.disabledAt === null),
          page,
          perPage,
        )
      }
      case 'audit': {
        const actor = text(filter.actor)
        const action = text(filter.action)
        const targetType = text(filter.targetType)
        const targetId = text(filter.targetId)
        if (!actor && !action && !targetType && !targetId) return cursorPage<AuditEntry & RaRecord>('audit', {}, page, perPage)
        return filteredPage<AuditEntry & RaRecord>(
          'audit',
          {},
          (entry) =>
            (!actor || entry.actor.email.toLowerCase().includes(actor) || entry.actor.id === actor) &&
            (!action || entry.action === action) &&
            (!targetType || entry.targetType === targetType) &&
            (!targetId || entry.targetId === targetId || JSON.stringify(entry.details).includes(targetId)),
          page,
          perPage,
        )
      }
      case 'reports':
        return cursorPage<AdminReport & RaRecord>('reports', defined(filter, ['status']), page, perPage)
      case 'messages': {
        const conversationId = filter.conversationId
        if (typeof conversationId !== 'string') throw new Error('messages are listed per conversation')
        const messages = await history(conversationId)
        return { data: messages, total: messages.length }
      }
      default:
        throw new Error(`unknown resource ${resource}`)
    }
  }

  /** A conversation's whole history as admins see it, oldest first (the API pages backwards by seq). */
  async function history(conversationId: string): Promise<AdminMessage[]> {
    const pages: AdminMessage[][] = []
    let before: number | undefined
    let count = 0
    for (;;) {
      const params = new URLSearchParams({ limit: '100', ...(before === undefined ? {} : { before: String(before) }) })
      const answer = await api<{ messages: AdminMessage[]; hasMore: boolean }>('GET', `/admin/conversations/${encodeURIComponent(conversationId)}/messages?${params}`)
      pages.unshift(answer.messages)
      count += answer.messages.length
      const oldest = answer.messages[0]
      if (!answer.hasMore || !oldest || count >= MAX_SCAN) break
      before = oldest.seq
    }
    return pages.flat()
  }

  async function getOne(resource: string, id: string): Promise<RaRecord> {
    if (resource !== 'conversations' && resource !== 'users') throw new Error(`no single-record route for ${resource}`)
    const { rows } = await scan<RaRecord>(resource, {}, (row) => row.id === id)
    const found = rows.find((row) => row.id === id)
    if (!found) throw Object.assign(new Error(`${resource === 'users' ? 'User' : 'Conversation'} ${id} not found`), { status: 404 })
    return found
  }

  const post = <T,>(method: string, path: string, body?: unknown) => api<T>(method, path, body)

  return {
    getList,
    async getOne(resource, params) {
      return { data: (await getOne(resource, String(params.id))) as never }
    },
    async getMany(resource, params) {
      return { data: (await Promise.all(params.ids.map((id) => getOne(resource, String(id))))) as never[] }
    },
    async getManyReference(resource, params) {
      const result = await getList(resource, { ...params, filter: { ...params.filter, [params.target]: params.id } })
      return result
    },
    create: () => Promise.reject(new Error('not supported')),
    update: () => Promise.reject(new Error('not supported')),
    updateMany: () => Promise.reject(new Error('not supported')),
    delete: () => Promise.reject(new Error('not supported')),
    deleteMany: () => Promise.reject(new Error('not supported')),

    me: () => api<Me>('GET', '/me'),
    closeConversation: (id, reason) => post<Conversation>('POST', `/admin/conversations/${id}/close`, { reason }),
    reopenConversation: (id) => post<Conversation>('POST', `/admin/conversations/${id}/reopen`),
    hideMessage: (id, reason) => post<AdminMessage>('DELETE', `/admin/messages/${id}`, { reason }),
    assignTrainer: (userId, trainerId, reason) => post('PUT', `/admin/users/${userId}/trainer`, { trainerId, ...(reason ? { reason } : {}) }),
    changeRole: (userId, role, reason) => post<AdminUser>('PUT', `/admin/users/${userId}/role`, { role, ...(reason ? { reason } : {}) }),
    setDisabled: (userId, disabled, reason) => post<AdminUser>('PUT', `/admin/users/${userId}/disabled`, { disabled, ...(reason ? { reason } : {}) }),
    resolveReport: (id, action, note) => post<AdminReport>('POST', `/admin/reports/${id}/resolve`, { action, note }),
    scan: scan as ConsoleDataProvider['scan'],
    history,
  }
}
