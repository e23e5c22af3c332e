import { readFile, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'
import { consoleContentSecurityPolicy } from '../console/security-headers.ts'

/**
 * Serves the built moderation console (console/dist) under /console/ the way CloudFront does in
 * AWS: files as they are, any other path under /console/ answered with index.html (the SPA
 * fallback), and /console/config.json generated from the running stack, as CDK writes it next to
 * the files in the bucket.
 */

export interface ConsoleSiteOptions {
  distDir: string
  config: () => ConsoleConfig | undefined
}

/** What the console reads at start-up (console/src/config.ts has the same shape). */
export interface ConsoleConfig {
  apiUrl: string
  /** The OpenID issuer (its discovery document is at `${issuer}/.well-known/openid-configuration`). */
  issuer: string
  /** The hosted UI's base URL: `/oauth2/*` and `/logout` live there (Cognito's user pool domain). */
  domain: string
  clientId: string
  stage: string
}

export const CONSOLE_PATH = '/console/'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
}

export function consoleSite(options: ConsoleSiteOptions): (request: IncomingMessage, response: ServerResponse) => Promise<boolean> {
  const root = normalize(options.distDir)
  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://local')
    if (url.pathname === '/console') {
      response.writeHead(301, { location: CONSOLE_PATH })
      response.end()
      return true
    }
    if (!url.pathname.startsWith(CONSOLE_PATH) || (request.method !== 'GET' && request.method !== 'HEAD')) return false
    const relative = decodeURIComponent(url.pathname.slice(CONSOLE_PATH.length))
    if (relative === 'config.json') {
      const config = options.config()
      if (!config) return false
      send(response, 200, '.json', Buffer.from(JSON.stringify(config)), 'no-store', config)
      return true
    }
    const config = options.config()
    const file = normalize(join(root, relative))
    if (file !== root && !file.startsWith(root + sep)) return false
    const found = await readIfFile(file)
    if (found) {
      // Vite fingerprints everything under assets/; index.html must be revalidated to pick up a new build.
      send(response, 200, extname(file), found, relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache', config)
      return true
    }
    const index = await readIfFile(join(root, 'index.html'))
    if (!index) {
      send(response, 503, '.html', Buffer.from('<!doctype html><title>Console not built</title><p>The console is not built: run <code>npm run build:console</code>.</p>'), 'no-store')
      return true
    }
    send(response, 200, '.html', index, 'no-cache', config)
    return true
  }
}

async function readIfFile(path: string): Promise<Buffer | undefined> {
  try {
    if (!(await stat(path)).isFile()) return undefined
    return await readFile(path)
  } catch {
    return undefined
  }
}

/** CloudFront's response headers policy in AWS; here the same CSP, so a violation fails the browser tests. */
function send(response: ServerResponse, status: number, extension: string, body: Buffer, cacheControl: string, config?: ConsoleConfig): void {
  response.writeHead(status, {
    ...(config
      ? {
          'content-security-policy': consoleContentSecurityPolicy({ api: new URL(config.apiUrl).origin, issuer: new URL(config.issuer).origin, hostedUi: new URL(config.domain).origin }),
          'x-frame-options': 'DENY',
          'referrer-policy': 'strict-origin-when-cross-origin',
        }
      : {}),
    'content-type': TYPES[extension] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': cacheControl,
    'x-content-type-options': 'nosniff',
  })
  response.end(body)
}
