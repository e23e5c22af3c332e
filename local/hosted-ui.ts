import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import * as z from 'zod/mini'
import { DEMO_USERS, findDemoUser, type DemoUser } from './demo-users.ts'
import type { LocalIssuer } from './issuer.ts'

/**
 * The local stand-in for the Cognito hosted UI (OAuth 2.0 authorization code with PKCE), served
 * under the local issuer's URL: the discovery document, /oauth2/authorize (a page listing the demo
 * users instead of a password form), /oauth2/token (authorization_code and refresh_token grants),
 * /oauth2/revoke and /logout. It answers the way Cognito does where a browser client can tell:
 * codes are single-use and live 5 minutes, PKCE is S256 only, a refresh answers without a new
 * refresh token, a revoked refresh token is `invalid_grant`, and the token endpoint allows CORS.
 * Tokens are minted by the same issuer as `npm run token`, so the API accepts them unchanged.
 */

export interface HostedUiOptions {
  /** Resolved lazily: the issuer exists only once the gateway knows its port. */
  issuer: () => LocalIssuer | undefined
  /** The one app client (the console) and the redirect URIs it may use. */
  clientId: string
  isAllowedRedirect: (uri: string) => boolean
  /** Seconds an id and access token live; default one hour like Cognito's default. */
  tokenLifetimeSeconds?: () => number
}

interface PendingCode {
  user: DemoUser
  clientId: string
  redirectUri: string
  codeChallenge: string
  nonce: string | undefined
  expiresAt: number
}

interface RefreshGrant {
  user: DemoUser
  clientId: string
  /** When the user signed in: refreshed ID tokens keep it, as Cognito's do (and OIDC clients check). */
  authTime: number
}

const CODE_LIFETIME_MS = 5 * 60 * 1000

const AuthorizeQuery = z.object({
  response_type: z.literal('code'),
  client_id: z.string(),
  redirect_uri: z.string(),
  state: z.optional(z.string()),
  scope: z.optional(z.string()),
  nonce: z.optional(z.string()),
  code_challenge: z.string().check(z.regex(/^[A-Za-z0-9_-]{43,128}$/)),
  code_challenge_method: z.literal('S256'),
})

const TokenRequest = z.discriminatedUnion('grant_type', [
  z.object({
    grant_type: z.literal('authorization_code'),
    code: z.string(),
    redirect_uri: z.string(),
    client_id: z.string(),
    code_verifier: z.string().check(z.regex(/^[A-Za-z0-9._~-]{43,128}$/)),
  }),
  z.object({ grant_type: z.literal('refresh_token'), refresh_token: z.string(), client_id: z.string() }),
])

/** The request handler to mount in front of the HTTP gateway; resolves false for paths it does not own. */
export function hostedUi(options: HostedUiOptions): (request: IncomingMessage, response: ServerResponse) => Promise<boolean> {
  const codes = new Map<string, PendingCode>()
  const refreshTokens = new Map<string, RefreshGrant>()

  async function mintTokens(user: DemoUser, clientId: string, nonce: string | undefined, authTime: number) {
    const issuer = options.issuer()
    if (!issuer) throw new Error('issuer not ready')
    const lifetime = options.tokenLifetimeSeconds?.() ?? 3600
    const claims = { sub: user.subject, email: user.email, name: user.displayName, groups: user.groups }
    return {
      id_token: await issuer.mint(claims, {
        tokenUse: 'id',
        expiresInSeconds: lifetime,
        extra: { aud: clientId, auth_time: authTime, ...(nonce ? { nonce } : {}) },
      }),
      access_token: await issuer.mint(claims, { tokenUse: 'access', expiresInSeconds: lifetime, extra: { client_id: clientId, auth_time: authTime, scope: 'openid email profile' } }),
      expires_in: lifetime,
      token_type: 'Bearer',
    }
  }

  return async (request, response) => {
    const issuer = options.issuer()
    if (!issuer) return false
    const base = new URL(issuer.issuer)
    const url = new URL(request.url ?? '/', base)
    if (!url.pathname.startsWith(`${base.pathname}/`)) return false
    const path = url.pathname.slice(base.pathname.length)
    const method = request.method ?? 'GET'

    if (method === 'OPTIONS' && (path === '/oauth2/token' || path === '/oauth2/revoke' || path.startsWith('/.well-known/'))) {
      response.writeHead(204, { ...CORS, 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type, authorization', 'access-control-max-age': '3600' })
      response.end()
      return true
    }

    if (method === 'GET' && path === '/.well-known/openid-configuration') {
      const root = issuer.issuer
      sendJson(response, 200, {
        issuer: root,
        authorization_endpoint: `${root}/oauth2/authorize`,
        token_endpoint: `${root}/oauth2/token`,
        revocation_endpoint: `${root}/oauth2/revoke`,
        end_session_endpoint: `${root}/logout`,
        userinfo_endpoint: `${root}/oauth2/userInfo`,
        jwks_uri: `${root}/.well-known/jwks.json`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'email', 'profile'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['none'],
      })
      return true
    }

    if (path === '/oauth2/authorize' && (method === 'GET' || method === 'POST')) {
      const params = method === 'GET' ? url.searchParams : new URLSearchParams((await readBody(request)).toString('utf8'))
      const query = AuthorizeQuery.safeParse(Object.fromEntries(params))
      if (!query.success) {
        sendHtml(response, 400, page('Sign-in request refused', `<p role="alert">invalid_request: ${escape(query.error.issues.map((i) => i.path.join('.')).join(', '))}</p>`))
        return true
      }
      const q = query.data
      if (q.client_id !== options.clientId || !options.isAllowedRedirect(q.redirect_uri)) {
        // Like Cognito: an unknown client or redirect URI is never redirected to.
        sendHtml(response, 400, page('Sign-in request refused', '<p role="alert">redirect_mismatch: unknown client or redirect URI</p>'))
        return true
      }
      if (method === 'GET') {
        sendHtml(response, 200, chooser(url.pathname, params))
        return true
      }
      const user = findDemoUser(params.get('username') ?? '')
      if (!user) {
        sendHtml(response, 400, page('Sign-in request refused', '<p role="alert">unknown user</p>'))
        return true
      }
      const code = randomBytes(24).toString('base64url')
      codes.set(code, {
        user,
        clientId: q.client_id,
        redirectUri: q.redirect_uri,
        codeChallenge: q.code_challenge,
        nonce: q.nonce,
        expiresAt: Date.now() + CODE_LIFETIME_MS,
      })
      const target = new URL(q.redirect_uri)
      target.searchParams.set('code', code)
      if (q.state !== undefined) target.searchParams.set('state', q.state)
      response.writeHead(302, { location: target.toString() })
      response.end()
      return true
    }

    if (method === 'POST' && path === '/oauth2/token') {
      const form = new URLSearchParams((await readBody(request)).toString('utf8'))
      const parsed = TokenRequest.safeParse(Object.fromEntries(form))
      if (!parsed.success) return oauthError(response, 'invalid_request')
      const grant = parsed.data
      if (grant.client_id !== options.clientId) return oauthError(response, 'invalid_client', 401)
      if (grant.grant_type === 'authorization_code') {
        const pending = codes.get(grant.code)
        codes.delete(grant.code) // single use, whatever happens next
        if (!pending || pending.expiresAt < Date.now() || pending.clientId !== grant.client_id || pending.redirectUri !== grant.redirect_uri) {
          return oauthError(response, 'invalid_grant')
        }
        const challenge = createHash('sha256').update(grant.code_verifier).digest('base64url')
        if (challenge !== pending.codeChallenge) return oauthError(response, 'invalid_grant')
        const refreshToken = randomBytes(32).toString('base64url')
        const authTime = Math.floor(Date.now() / 1000)
        refreshTokens.set(refreshToken, { user: pending.user, clientId: pending.clientId, authTime })
        sendJson(response, 200, { ...(await mintTokens(pending.user, pending.clientId, pending.nonce, authTime)), refresh_token: refreshToken })
        return true
      }
      const refresh = refreshTokens.get(grant.refresh_token)
      if (!refresh || refresh.clientId !== grant.client_id) return oauthError(response, 'invalid_grant')
      // Cognito answers a refresh with new id and access tokens and no new refresh token.
      sendJson(response, 200, await mintTokens(refresh.user, refresh.clientId, undefined, refresh.authTime))
      return true
    }

    if (method === 'POST' && path === '/oauth2/revoke') {
      const form = new URLSearchParams((await readBody(request)).toString('utf8'))
      const token = form.get('token')
      if (!token || form.get('client_id') !== options.clientId) return oauthError(response, 'invalid_request')
      refreshTokens.delete(token)
      response.writeHead(200, CORS)
      response.end()
      return true
    }

    if (method === 'GET' && path === '/logout') {
      // Cognito's logout takes client_id and logout_uri (not OIDC's post_logout_redirect_uri).
      const logoutUri = url.searchParams.get('logout_uri') ?? ''
      if (url.searchParams.get('client_id') !== options.clientId || !options.isAllowedRedirect(logoutUri)) {
        sendHtml(response, 400, page('Sign-out refused', '<p role="alert">unknown client or logout URI</p>'))
        return true
      }
      response.writeHead(302, { location: logoutUri })
      response.end()
      return true
    }
    return false
  }
}

const CORS = { 'access-control-allow-origin': '*' }

function oauthError(response: ServerResponse, error: string, status = 400): true {
  sendJson(response, status, { error })
  return true
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body)
  response.writeHead(status, { ...CORS, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(payload) })
  response.end(payload)
}

function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) })
  response.end(html)
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > 64 * 1024) throw new Error('OAuth request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** The demo-user picker: one form per user, re-posting the authorize parameters with the choice. */
function chooser(action: string, params: URLSearchParams): string {
  const hidden = [...params].map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`).join('')
  const buttons = DEMO_USERS.map(
    (user) => `<li><form method="post" action="${escape(action)}">${hidden}<input type="hidden" name="username" value="${escape(user.email)}">` +
      `<button type="submit">${escape(user.email)}</button> <span>${escape(user.displayName)}, ${user.role}</span></form></li>`,
  ).join('')
  return page('Sign in', `<p>Local stand-in for the Cognito hosted UI: pick a demo user.</p><ul>${buttons}</ul>`)
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · trainer-chat local</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
ul{list-style:none;padding:0}li{margin:.5rem 0}button{font:inherit;padding:.4rem .8rem;min-width:14rem;text-align:left;cursor:pointer}
span{color:#444}</style></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`
}
