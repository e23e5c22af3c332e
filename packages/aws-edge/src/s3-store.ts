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

export class ObjectStore {
  private readonly writes = new Map<string, Promise<unknown>>()

  private constructor(private readonly root: string) {}

  static async open(root: string): Promise<ObjectStore> {
    await mkdir(root, { recursive: true })
    return new ObjectStore(root)
  }

  /** True when the bucket is new. */
  async createBucket(bucket: string): Promise<boolean> {
    if (await this.hasBucket(bucket)) return false
    await mkdir(join(this.root, bucket), { recursive: true })
    return true
  }

  async hasBucket(bucket: string): Promise<boolean> {
    try {
      return (await stat(join(this.root, bucket))).isDirectory()
    } catch (error) {
      if (isNotFound(error)) return false
      throw error
    }
  }

  put(bucket: string, key: string, body: Buffer, fields: NewObject): Promise<StoredObject> {
    return this.serialised(bucket, key, async () => {
      const base = this.basePath(bucket, key)
      const previous = await this.readMeta(bucket, key)
      const dataFile = `${objectId(key)}.${randomUUID()}.data`
      await writeFile(join(this.root, bucket, dataFile), body)
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
      if (previous !== undefined) await removeQuietly(join(this.root, bucket, previous.dataFile))
      return stored
    })
  }

  head(bucket: string, key: string): Promise<StoredObject | undefined> {
    return this.readMeta(bucket, key)
  }

  async get(bucket: string, key: string): Promise<{ object: StoredObject; body: Buffer } | undefined> {
    // One retry covers an overwrite that removed the data file between our two reads.
    for (let attempt = 0; attempt < 2; attempt++) {
      const object = await this.readMeta(bucket, key)
      if (object === undefined) return undefined
      try {
        return { object, body: await readFile(join(this.root, bucket, object.dataFile)) }
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
    }
    return undefined
  }

  delete(bucket: string, key: string): Promise<void> {
    return this.serialised(bucket, key, async () => {
      const previous = await this.readMeta(bucket, key)
      if (previous === undefined) return
      await removeQuietly(`${this.basePath(bucket, key)}.json`)
      await removeQuietly(join(this.root, bucket, previous.dataFile))
    })
  }

  private async readMeta(bucket: string, key: string): Promise<StoredObject | undefined> {
    try {
      return JSON.parse(await readFile(`${this.basePath(bucket, key)}.json`, 'utf8')) as StoredObject
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  private basePath(bucket: string, key: string): string {
    return join(this.root, bucket, objectId(key))
  }

  /** Writes to one key run one after another, so two uploads cannot orphan each other's data file. */
  private serialised<T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> {
    const lockKey = `${bucket}/${key}`
    const run = (this.writes.get(lockKey) ?? Promise.resolve()).then(work, work)
    const settled = run.catch(() => undefined)
    this.writes.set(lockKey, settled)
    void settled.then(() => {
      if (this.writes.get(lockKey) === settled) this.writes.delete(lockKey)
    })
    return run
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

