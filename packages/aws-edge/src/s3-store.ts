import { createHash, randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Buckets and objects on disk, so a restarted edge still has them:
 *   <root>/<bucket>/                    a bucket
 *   <root>/<bucket>/<sha256(key)>.json  the object's metadata (including its key)
 *   <root>/<bucket>/<sha256(key)>.<uuid>.data  its bytes
 * Keys are hashed because an S3 key (up to 1024 bytes, any characters) is not a safe file name.
 * Each write goes to a fresh data file and the metadata is swapped in by rename, so a reader
 * never sees new metadata with old bytes.
 */

export interface StoredObject {
  key: string
  contentType: string
  contentLength: number
  /** Quoted hex MD5, as S3 returns it for single-part uploads. */
  etag: string
  lastModified: string
  /** x-amz-meta-* values, by lower-case name without the prefix. */
  userMetadata: Record<string, string>
  /** Representation headers S3 stores and returns as sent (cache-control, content-disposition, ...). */
  headers: Record<string, string>
  dataFile: string
}

export type NewObject = Pick<StoredObject, 'contentType' | 'userMetadata' | 'headers'>

export interface ObjectStore {
  /** True when the bucket is new. */
  createBucket(bucket: string): Promise<boolean>
  hasBucket(bucket: string): Promise<boolean>
  /**
   * Stores the object. With `ifAbsent` (a PUT with `If-None-Match: *`) it stores nothing and
   * resolves undefined when the key already holds an object: checked and written under the key's
   * write lock, so of two such PUTs racing exactly one succeeds.
   */
  put(bucket: string, key: string, body: Buffer, fields: NewObject, options?: { ifAbsent?: boolean }): Promise<StoredObject | undefined>
  head(bucket: string, key: string): Promise<StoredObject | undefined>
  get(bucket: string, key: string): Promise<{ object: StoredObject; body: Buffer } | undefined>
  delete(bucket: string, key: string): Promise<void>
}

export async function openObjectStore(root: string): Promise<ObjectStore> {
  await mkdir(root, { recursive: true })
  const writes = new Map<string, Promise<unknown>>()
  const basePath = (bucket: string, key: string): string => join(root, bucket, objectId(key))

  async function readMeta(bucket: string, key: string): Promise<StoredObject | undefined> {
    try {
      return JSON.parse(await readFile(`${basePath(bucket, key)}.json`, 'utf8')) as StoredObject
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  /** Writes to one key run one after another, so two uploads cannot orphan each other's data file. */
  function serialised<T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> {
    const lockKey = `${bucket}/${key}`
    const run = (writes.get(lockKey) ?? Promise.resolve()).then(work, work)
    const settled = run.catch(() => undefined)
    writes.set(lockKey, settled)
    void settled.then(() => {
      if (writes.get(lockKey) === settled) writes.delete(lockKey)
    })
    return run
  }

  async function hasBucket(bucket: string): Promise<boolean> {
    try {
      return (await stat(join(root, bucket))).isDirectory()
    } catch (error) {
      if (isNotFound(error)) return false
      throw error
    }
  }

  return {
    hasBucket,

    async createBucket(bucket) {
      if (await hasBucket(bucket)) return false
      await mkdir(join(root, bucket), { recursive: true })
      return true
    },

    put(bucket, key, body, fields, options = {}) {
      return serialised(bucket, key, async () => {
        const base = basePath(bucket, key)
        const previous = await readMeta(bucket, key)
        if (previous !== undefined && options.ifAbsent) return undefined
        const dataFile = `${objectId(key)}.${randomUUID()}.data`
        await writeFile(join(root, bucket, dataFile), body)
        const stored: StoredObject = {
          ...fields,
          key,
          contentLength: body.length,
          etag: `"${createHash('md5').update(body).digest('hex')}"`,
          // S3 keeps whole seconds: Last-Modified is an HTTP date.
          lastModified: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
          dataFile,
        }
        const temporary = `${base}.${randomUUID()}.tmp`
        await writeFile(temporary, JSON.stringify(stored))
        await rename(temporary, `${base}.json`)
        if (previous !== undefined) await removeQuietly(join(root, bucket, previous.dataFile))
        return stored
      })
    },

    head: readMeta,

    async get(bucket, key) {
      // One retry covers an overwrite that removed the data file between our two reads.
      for (let attempt = 0; attempt < 2; attempt++) {
        const object = await readMeta(bucket, key)
        if (object === undefined) return undefined
        try {
          return { object, body: await readFile(join(root, bucket, object.dataFile)) }
        } catch (error) {
          if (!isNotFound(error)) throw error
        }
      }
      return undefined
    },

    delete(bucket, key) {
      return serialised(bucket, key, async () => {
        const previous = await readMeta(bucket, key)
        if (previous === undefined) return
        await removeQuietly(`${basePath(bucket, key)}.json`)
        await removeQuietly(join(root, bucket, previous.dataFile))
      })
    },
  }
}

function objectId(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (error) {
    if (!isNotFound(error)) throw error
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT'
}

