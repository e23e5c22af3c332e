import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'

/**
 * The local stand-in for a Cognito user pool: an RS256 key kept in DATA_DIR (so tokens minted
 * by `npm run token` while the stack is down still verify when it is up) and its JWKS. Tokens
 * carry Cognito's claims: sub, email, name, cognito:groups, token_use, aud / client_id.
 */
export interface LocalIssuer {
  issuer: string
  audience: string
  jwks: { keys: JWK[] }
  mint(claims: TokenClaims, options?: MintOptions): Promise<string>
}

export interface TokenClaims {
  sub: string
  email: string
  name?: string
  groups?: string[]
}

export interface MintOptions {
  /** Seconds until expiry; default one hour. Negative gives an already expired token. */
  expiresInSeconds?: number
  tokenUse?: 'id' | 'access'
  /** Extra or overriding claims (tests use this to forge bad tokens). */
  extra?: Record<string, unknown>
}

interface StoredKey {
  kid: string
  privateJwk: JWK
  publicJwk: JWK
}

export async function loadIssuer(dataDir: string, issuer: string, audience: string): Promise<LocalIssuer> {
  const stored = await loadOrCreateKey(dataDir)
  const privateKey = await importJWK(stored.privateJwk, 'RS256')
  return {
    issuer,
    audience,
    jwks: { keys: [stored.publicJwk] },
    async mint(claims, options = {}) {
      const tokenUse = options.tokenUse ?? 'id'
      const now = Math.floor(Date.now() / 1000)
      const payload: Record<string, unknown> = {
        sub: claims.sub,
        iss: issuer,
        ...(tokenUse === 'id' ? { aud: audience } : { client_id: audience, username: claims.sub }),
        email: claims.email,
        // Like a Cognito pool whose users verified their email (demo users, sign-ups by email code).
        email_verified: true,
        ...(claims.name ? { name: claims.name } : {}),
        'cognito:groups': claims.groups ?? [],
        token_use: tokenUse,
        auth_time: now,
        iat: now,
        exp: now + (options.expiresInSeconds ?? 3600),
        jti: randomUUID(),
        ...options.extra,
      }
      const jwt = new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: stored.kid, typ: 'JWT' })
      return jwt.sign(privateKey)
    },
  }
}

async function loadOrCreateKey(dataDir: string): Promise<StoredKey> {
  const file = join(dataDir, 'issuer-key.json')
  try {
    return JSON.parse(await readFile(file, 'utf8')) as StoredKey
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await mkdir(dataDir, { recursive: true })
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = randomUUID()
  const stored: StoredKey = {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  }
  try {
    // 'wx': if the stack and `npm run token` race to create it, the first one wins and both use it.
    await writeFile(file, JSON.stringify(stored), { flag: 'wx', mode: 0o600 })
    return stored
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    return JSON.parse(await readFile(file, 'utf8')) as StoredKey
  }
}
