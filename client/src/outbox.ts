/**
 * The outbox: every send is written here, with its clientMessageId, before it touches the
 * network, and removed only when the server acknowledged it (or refused it for good). An app
 * passes storage that survives a restart (AsyncStorage, IndexedDB, localStorage); the default
 * keeps entries in memory.
 */
export interface OutboxEntry {
  clientMessageId: string
  conversationId: string
  body?: string
  attachmentId?: string
  /** The message this one answers. */
  replyToId?: string
  /** When the app called send (ms since the epoch): entries go out in this order. */
  createdAt: number
}

export interface OutboxStorage {
  load(): Promise<OutboxEntry[]>
  save(entry: OutboxEntry): Promise<void>
  remove(clientMessageId: string): Promise<void>
}

export function memoryStorage(): OutboxStorage & { entries: Map<string, OutboxEntry> } {
  const entries = new Map<string, OutboxEntry>()
  return {
    entries,
    async load() {
      return [...entries.values()].map((entry) => ({ ...entry }))
    },
    async save(entry) {
      entries.set(entry.clientMessageId, { ...entry })
    },
    async remove(clientMessageId) {
      entries.delete(clientMessageId)
    },
  }
}

/** The shape of AsyncStorage and (wrapped in promises) localStorage. */
export interface KeyValueStore {
  getItem(key: string): Promise<string | null> | string | null
  setItem(key: string, value: string): Promise<void> | void
  removeItem(key: string): Promise<void> | void
}

/**
 * An outbox over a string key-value store: one key per entry and an index key listing them.
 * Writes are serialized so that concurrent sends cannot lose each other's index updates.
 */
export function keyValueStorage(store: KeyValueStore, prefix = 'trainer-chat:outbox'): OutboxStorage {
  const indexKey = `${prefix}:index`
  let queue: Promise<unknown> = Promise.resolve()
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work)
    queue = run.catch(() => {})
    return run
  }
  const readIndex = async (): Promise<string[]> => {
    const raw = await store.getItem(indexKey)
    return raw ? (JSON.parse(raw) as string[]) : []
  }
  return {
    load: () =>
      serialized(async () => {
        const entries: OutboxEntry[] = []
        for (const id of await readIndex()) {
          const raw = await store.getItem(`${prefix}:${id}`)
          if (raw) entries.push(JSON.parse(raw) as OutboxEntry)
        }
        return entries
      }),
    save: (entry) =>
      serialized(async () => {
        await store.setItem(`${prefix}:${entry.clientMessageId}`, JSON.stringify(entry))
        const index = await readIndex()
        if (!index.includes(entry.clientMessageId)) await store.setItem(indexKey, JSON.stringify([...index, entry.clientMessageId]))
      }),
    remove: (clientMessageId) =>
      serialized(async () => {
        const index = await readIndex()
        await store.setItem(indexKey, JSON.stringify(index.filter((id) => id !== clientMessageId)))
        await store.removeItem(`${prefix}:${clientMessageId}`)
      }),
  }
}

/** A fresh clientMessageId: a UUID from the platform's crypto when it has one (RN may not). */
export function newClientMessageId(random: () => number = Math.random): string {
  const crypto = (globalThis as unknown as { crypto?: { randomUUID?: () => string } }).crypto
  if (crypto?.randomUUID) return crypto.randomUUID()
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}
