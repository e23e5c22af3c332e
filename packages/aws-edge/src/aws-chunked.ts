import { timingSafeEqual } from 'node:crypto'

/**
 * Decodes an `aws-chunked` body (what the SDK sends for streaming uploads):
 *   <hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n ... 0[;chunk-signature=<sig>]\r\n[<trailer>:<value>\r\n]*\r\n
 * When the payload is signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) every chunk's signature
 * chains from the previous one, starting at the request's own signature.
 */

export interface DecodedChunks {
  ok: true
  body: Buffer
  /** Lower-case trailer name → value (x-amz-checksum-crc32, ...). */
  trailers: Record<string, string>
}

export interface ChunkProblem {
  ok: false
  code: 'IncompleteBody' | 'SignatureDoesNotMatch'
  message: string
}

export interface ChunkSigning {
  seedSignature: string
  signChunk(priorSignature: string, chunk: Uint8Array): Promise<string>
}

const CRLF = Buffer.from('\r\n')

export async function decodeAwsChunked(raw: Buffer, signing?: ChunkSigning): Promise<DecodedChunks | ChunkProblem> {
  const chunks: Buffer[] = []
  let offset = 0
  let priorSignature = signing?.seedSignature ?? ''
  for (;;) {
    const lineEnd = raw.indexOf(CRLF, offset)
    if (lineEnd === -1) return malformed('Chunk header is not terminated')
    const [sizeText = '', ...extensions] = raw.subarray(offset, lineEnd).toString('latin1').split(';')
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return malformed(`Invalid chunk size: ${sizeText}`)
    const size = parseInt(sizeText, 16)
    const dataStart = lineEnd + 2
    const chunk = raw.subarray(dataStart, dataStart + size)
    if (chunk.length !== size) return malformed('Chunk is shorter than its declared size')

    if (signing !== undefined) {
      const provided = extensions.find((ext) => ext.startsWith('chunk-signature='))?.slice('chunk-signature='.length) ?? ''
      const expected = await signing.signChunk(priorSignature, chunk)
      if (!sameText(expected, provided)) {
        return { ok: false, code: 'SignatureDoesNotMatch', message: 'The chunk signature we calculated does not match the signature you provided.' }
      }
      priorSignature = expected
    }

    if (size === 0) {
      const trailers = parseTrailers(raw.subarray(dataStart))
      return trailers === undefined ? malformed('Malformed trailing headers') : { ok: true, body: Buffer.concat(chunks), trailers }
    }
    chunks.push(chunk)
    offset = dataStart + size
    if (!raw.subarray(offset, offset + 2).equals(CRLF)) return malformed('Chunk data is not followed by CRLF')
    offset += 2
  }
}

/** After the last chunk: `name:value\r\n` lines, then an empty line. */
function parseTrailers(rest: Buffer): Record<string, string> | undefined {
  const text = rest.toString('latin1')
  if (!text.endsWith('\r\n')) return undefined
  const trailers: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    if (line === '') continue
    const colon = line.indexOf(':')
    if (colon === -1) return undefined
    trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return trailers
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

function malformed(message: string): ChunkProblem {
  return { ok: false, code: 'IncompleteBody', message }
}
