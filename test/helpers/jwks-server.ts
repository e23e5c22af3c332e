import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/**
 * An identity provider we control: an RS256 signing key and a JWKS endpoint over real HTTP that
 * counts its fetches and can be made slow, failing or unreachable, and whose keys can be rotated.
 */
export interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
  publicPem: string
}

export interface JwksServer {
  url: string
  issuer: string
  audience: string
  /** JWKS requests served (or attempted) since start. */
  fetches: number
  /** Answer each fetch after this many milliseconds. */
  delayMs: number
  /** Answer fetches with this status instead of the key set (e.g. 503). */
  failWith: number | undefined
  key: SigningKey
  /** Replaces the published key set with a new key (the old one is no longer published). */
  rotate(): Promise<SigningKey>
  /** Stops listening and drops open sockets: the endpoint becomes unreachable. */
  takeDown(): Promise<void>
  sign(claims?: JWTPayload, options?: { key?: SigningKey; kid?: string; alg?: string; expiresIn?: number }): Promise<string>
  close(): Promise<void>
}

export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = randomUUID()
  return {
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
    publicPem: await exportSPKI(publicKey),
  }
}

export async function startJwksServer(): Promise<JwksServer> {
  const sockets = new Set<Socket>()
  let server: Server | undefined = createServer((request, response) => {
    state.fetches++
    const answer = () => {
      if (state.failWith !== undefined) {
        response.writeHead(state.failWith, { 'content-type': 'application/json' }).end('{"message":"unavailable"}')
        return
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [state.key.publicJwk] }))
    }
    if (state.delayMs > 0) setTimeout(answer, state.delayMs).unref()
    else answer()
    void request
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}`

  const state: JwksServer = {
    url: `${base}/.well-known/jwks.json`,
    issuer: base,
    audience: 'test-client',
    fetches: 0,
    delayMs: 0,
    failWith: undefined,
    key: await createSigningKey(),
    async rotate() {
      state.key = await createSigningKey()
      return state.key
    },
    async takeDown() {
      const closing = server
      server = undefined
      if (!closing) return
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => closing.close(() => resolve()))
    },
    async sign(claims = {}, options = {}) {
      const key = options.key ?? state.key
      const now = Math.floor(Date.now() / 1000)
      const payload: JWTPayload = {
        sub: 'subject-1',
        iss: state.issuer,
        aud: state.audience,
        token_use: 'id',
        email: 'someone@example.com',
        email_verified: true,
        iat: now,
        exp: now + (options.expiresIn ?? 600),
        ...claims,
      }
      for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name]
      return new SignJWT(payload)
        .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
        .sign(key.privateKey)
    },
    close: () => state.takeDown(),
  }
  return state
}

/** base64url of a JSON value or raw text. */
export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
}
