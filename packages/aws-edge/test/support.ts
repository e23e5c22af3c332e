import assert from 'node:assert/strict'
import { request } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { SNSClient } from '@aws-sdk/client-sns'
import { startAwsEdge, type AwsEdge } from '../src/index.ts'

/** Shared fixtures for the edge tests: a running edge on a throw-away data dir, and SDK clients for it. */

export const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }

export interface EdgeFixture {
  edge: AwsEdge
  dataDir: string
  /** Stops the edge and starts a new one on the same data dir (and returns it). */
  restart(): Promise<AwsEdge>
  dispose(): Promise<void>
}

export async function startEdgeFixture(): Promise<EdgeFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'aws-edge-test-'))
  const fixture: EdgeFixture = {
    edge: await startAwsEdge({ port: 0, dataDir }),
    dataDir,
    async restart() {
      await fixture.edge.stop()
      fixture.edge = await startAwsEdge({ port: 0, dataDir })
      return fixture.edge
    },
    async dispose() {
      await fixture.edge.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
  return fixture
}

export function s3Client(edge: AwsEdge, overrides: Partial<ConstructorParameters<typeof S3Client>[0]> = {}): S3Client {
  return new S3Client({
    endpoint: edge.url,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...overrides,
  })
}

export function snsClient(edge: AwsEdge, overrides: Partial<ConstructorParameters<typeof SNSClient>[0]> = {}): SNSClient {
  return new SNSClient({ endpoint: edge.url, region: 'us-east-1', credentials, ...overrides })
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/**
 * A request with full control over headers and framing (fetch insists on computing
 * Content-Length itself); an array body is sent chunked, one write per element.
 */
export function rawRequest(
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: Buffer | Buffer[] },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    const parts = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body]
    for (const part of parts) req.write(part)
    req.end()
  })
}

/** The <Code> of an S3 or SNS XML error document. */
export function xmlCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1]
}

export function xmlMessage(body: string): string | undefined {
  return /<Message>([^<]*)<\/Message>/.exec(body)?.[1]
}

interface ServiceError extends Error {
  $metadata?: { httpStatusCode?: number; attempts?: number }
}

/** Awaits an SDK call that must fail, and checks the error name and HTTP status the SDK reports. */
export async function expectServiceError(call: Promise<unknown>, name: string, status: number): Promise<ServiceError> {
  let failure: unknown
  try {
    await call
  } catch (error) {
    failure = error
  }
  assert.ok(failure instanceof Error, `expected the call to fail with ${name}`)
  const error: ServiceError = failure
  assert.equal(error.name, name, error.message)
  assert.equal(error.$metadata?.httpStatusCode, status)
  return error
}
