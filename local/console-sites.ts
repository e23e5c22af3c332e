import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { consoleSite } from './console-static.ts'
import { hostedUi } from './hosted-ui.ts'
import type { LocalIssuer } from './issuer.ts'

export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../console/dist', import.meta.url))

export interface ConsoleSitesOptions {
  issuer: () => LocalIssuer | undefined
  httpUrl: () => string
  /**
   * The console's app client id. Locally it is the audience every local token carries, so the
   * gateway's JWT check (one audience) accepts the console's tokens; in AWS the console has its
   * own app client and the HTTP API's authorizer lists both clients.
   */
  clientId: string
  consoleDir?: string | undefined
  consoleTokenLifetimeSeconds?: number | undefined
}

/**
 * What the local HTTP gateway serves besides the API: the hosted-UI stand-in and the console.
 * Redirects go only to the console's own callback and sign-out pages on a loopback origin (the
 * stack's port, or Vite's dev server from `npm run console`), as Cognito allows only the app
 * client's listed URLs.
 */
export function consoleSites(options: ConsoleSitesOptions): Array<(request: IncomingMessage, response: ServerResponse) => Promise<boolean>> {
  return [
    hostedUi({
      issuer: options.issuer,
      clientId: options.clientId,
      isAllowedRedirect,
      ...(options.consoleTokenLifetimeSeconds ? { tokenLifetimeSeconds: () => options.consoleTokenLifetimeSeconds! } : {}),
    }),
    consoleSite({
      distDir: options.consoleDir ?? DEFAULT_CONSOLE_DIR,
      config: () => {
        const issuer = options.issuer()
        if (!issuer) return undefined
        return { apiUrl: options.httpUrl(), issuer: issuer.issuer, domain: issuer.issuer, clientId: options.clientId, stage: 'local' }
      },
    }),
  ]
}

function isAllowedRedirect(uri: string): boolean {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return false
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]'
  return url.protocol === 'http:' && loopback && (url.pathname === '/console/auth-callback' || url.pathname === '/console/')
}
