import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** The parts of a request that both services route and authenticate on, split once. */
export interface ParsedUrl {
  /** Path exactly as sent (still percent-encoded): S3 signs it byte for byte. */
  rawPath: string
  /** Query parameters in arrival order, decoded with decodeURIComponent (a `+` stays a `+`). */
  query: ReadonlyArray<readonly [string, string]>
}

export class MalformedUrlError extends Error {
  override readonly name = 'MalformedUrlError'
}

export function parseUrl(url: string): ParsedUrl {
  const queryStart = url.indexOf('?')
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart)
  const rawQuery = queryStart === -1 ? '' : url.slice(queryStart + 1)
  const query: Array<readonly [string, string]> = []
  for (const part of rawQuery.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    // `?uploads` means the parameter with an empty value, which SigV4 canonicalises as `uploads=`.
    const name = eq === -1 ? part : part.slice(0, eq)
    const value = eq === -1 ? '' : part.slice(eq + 1)
    query.push([decode(name), decode(value)])
  }
  return { rawPath, query }
}

function decode(component: string): string {
  try {
    return decodeURIComponent(component)
  } catch (cause) {
    throw new MalformedUrlError(`Invalid percent-encoding: ${component}`, { cause })
  }
}

export function firstQueryValue(query: ParsedUrl['query'], name: string): string | undefined {
  return query.find(([key]) => key === name)?.[1]
}

/** Lower-case name → value, repeated headers joined with commas the way SigV4 canonicalises them. */
export function headerMap(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined) headers[name] = values.map((value) => value.trim()).join(',')
  }
  return headers
}

export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError'
}

/** Reads the whole body; rejects (and stops reading) once it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(new BodyTooLargeError(`Body exceeds ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    // A client that disconnects mid-body must not produce a stored object.
    req.on('close', () => {
      if (!req.complete) reject(new Error('Client closed the connection before sending the whole body'))
    })
    req.on('error', reject)
  })
}

/** Lets node finish reading a body we refuse, so a keep-alive connection stays usable. */
export function discardBody(req: IncomingMessage): void {
  if (!req.complete) req.resume()
}

export function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
  body?: string | Buffer,
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, { Date: new Date().toUTCString(), ...headers })
  res.end(body)
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, { 'Content-Type': 'application/json' }, JSON.stringify(value))
}

/** S3 request ids are 16 upper-case hex characters. */
export function s3RequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase()
}

/** SNS request ids are UUIDs. */
export function snsRequestId(): string {
  return randomUUID()
}

/** For element text only: the replies never put variable data in attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
