import { resolve } from 'node:path'
import { startAwsEdge } from './index.ts'

/**
 * Runs the edge on its own, like `localstack start`:
 *   npx tsx packages/aws-edge/src/main.ts   (AWS_EDGE_PORT, default 4566; AWS_EDGE_DATA_DIR, default .data/aws-edge)
 *   npm start -w @trainer-chat/aws-edge     (the same, with .data/ under packages/aws-edge)
 * Scripts can wait on GET /_localstack/health before they go on.
 */

function portFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return 4566
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`AWS_EDGE_PORT must be a port number, got "${value}"`)
  return port
}

const edge = await startAwsEdge({
  port: portFromEnv(process.env['AWS_EDGE_PORT']),
  dataDir: resolve(process.env['AWS_EDGE_DATA_DIR'] || '.data/aws-edge'),
})
console.log(`[aws-edge] S3 and SNS listening on ${edge.url}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void edge.stop().then(() => process.exit(0))
  })
}
