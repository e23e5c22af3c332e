import { createHash } from 'node:crypto'

/**
 * The integrity checks S3 runs on an upload's bytes: Content-MD5 and the flexible
 * x-amz-checksum-* values (sent as headers, query parameters of a presigned URL, or
 * aws-chunked trailers). A mismatch means S3 stores nothing.
 */

export interface DigestProblem {
  code: 'BadDigest' | 'InvalidDigest' | 'InvalidRequest'
  message: string
}

type Algorithm = 'crc32' | 'crc32c' | 'sha1' | 'sha256'

const ALGORITHMS: Record<Algorithm, { label: string; compute: (data: Uint8Array) => Buffer }> = {
  crc32: { label: 'CRC32', compute: (data) => crcBytes(CRC32_TABLE, data) },
  crc32c: { label: 'CRC32C', compute: (data) => crcBytes(CRC32C_TABLE, data) },
  sha1: { label: 'SHA1', compute: (data) => createHash('sha1').update(data).digest() },
  sha256: { label: 'SHA256', compute: (data) => createHash('sha256').update(data).digest() },
}

/**
 * `declared` maps lower-case names (content-md5, x-amz-checksum-crc32, ...) to values.
 * Algorithms we cannot compute (crc64nvme) are accepted unverified.
 */
export function checkDigests(declared: Readonly<Record<string, string>>, body: Uint8Array): DigestProblem | undefined {
  const md5 = declared['content-md5']
  if (md5 !== undefined) {
    const expected = Buffer.from(md5, 'base64')
    if (expected.length !== 16) return { code: 'InvalidDigest', message: 'The Content-MD5 you specified was invalid.' }
    if (!expected.equals(createHash('md5').update(body).digest())) {
      return { code: 'BadDigest', message: 'The Content-MD5 you specified did not match what we received.' }
    }
  }
  for (const [name, value] of Object.entries(declared)) {
    const algorithm = name.startsWith('x-amz-checksum-') ? name.slice('x-amz-checksum-'.length) : undefined
    if (algorithm === undefined || !isAlgorithm(algorithm)) continue
    const { label, compute } = ALGORITHMS[algorithm]
    if (compute(body).toString('base64') !== value) {
      return { code: 'BadDigest', message: `The ${label} you specified did not match the calculated checksum.` }
    }
  }
  return undefined
}

function isAlgorithm(name: string): name is Algorithm {
  return Object.hasOwn(ALGORITHMS, name)
}

// Table-driven reflected CRCs: node's zlib.crc32 only exists from 20.15, and there is no CRC32C.
const CRC32_TABLE = crcTable(0xedb88320)
const CRC32C_TABLE = crcTable(0x82f63b78)

function crcTable(reversedPolynomial: number): Uint32Array {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? reversedPolynomial ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
}

function crcBytes(table: Uint32Array, data: Uint8Array): Buffer {
  let crc = 0xffffffff
  for (const byte of data) crc = (table[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8)
  const out = Buffer.alloc(4)
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0)
  return out
}
