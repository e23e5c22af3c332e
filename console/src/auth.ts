import { InMemoryWebStorage, UserManager, WebStorageStateStore } from 'oidc-client-ts'
import type { AuthProvider } from 'react-admin'
import type { ConsoleConfig } from './config.ts'
import type { Me } from './types.ts'

/**
 * Sign-in through the user pool's hosted UI (authorization code with PKCE, done by oidc-client-ts),
 * the same code against Cognito and the local stand-in. Tokens live in memory only (a reload signs
 * in again, which the hosted UI's session makes a redirect); the refresh token renews them a minute
 * before they expire; sign-out revokes the refresh token, then ends the hosted-UI session.
 */
export interface ConsoleAuth {
  authProvider: AuthProvider
  /** The current ID token (what the HTTP API's JWT authorizer is configured for). */
  idToken(): Promise<string>
  userManager: UserManager
}

const CALLBACK_PATH = `${import.meta.env.BASE_URL}auth-callback`

export function createAuth(config: ConsoleConfig, whoAmI: () => Promise<Me>): ConsoleAuth {
  const origin = window.location.origin
  const userManager = new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    response_type: 'code',
    scope: 'openid email profile',
    // Cognito's discovery document lists neither; they live on the hosted-UI domain.
    metadataSeed: { revocation_endpoint: `${config.domain}/oauth2/revoke`, end_session_endpoint: `${config.domain}/logout` },
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    automaticSilentRenew: true,
    accessTokenExpiringNotificationTimeInSeconds: 60,
    loadUserInfo: false,
  })
  let role: Promise<Me['role']> | undefined
  // A failed renewal is not swallowed: the next API call finds the token expired and signs in again.
  userManager.events.addSilentRenewError((error) => console.error('token renewal failed:', error.message))

  async function idToken(): Promise<string> {
    let user = await userManager.getUser()
    if (user?.expired && user.refresh_token) user = await userManager.signinSilent()
    if (!user?.id_token || user.expired) throw Object.assign(new Error('Signed out'), { status: 401 })
    return user.id_token
  }

  const authProvider: AuthProvider = {
    async login() {
      await userManager.signinRedirect()
    },
    async handleCallback() {
      await userManager.signinCallback(window.location.href)
      role = undefined
      return { redirectTo: '/' }
    },
    async checkAuth() {
      await idToken()
    },
    async checkError(error: { status?: number }) {
      // 401: the token is no longer accepted; sign in again. A 403 is a refusal to show, not a sign-out.
      if (error.status === 401) {
        await userManager.removeUser()
        throw error
      }
    },
    async logout() {
      const user = await userManager.getUser()
      role = undefined
      if (!user) return
      try {
        if (user.refresh_token) await userManager.revokeTokens(['refresh_token'])
      } finally {
        await userManager.removeUser()
      }
      const logoutUri = `${origin}${import.meta.env.BASE_URL}`
      // Cognito's /logout takes client_id and logout_uri, not OIDC's end-session parameters.
      window.location.assign(`${config.domain}/logout?client_id=${encodeURIComponent(config.clientId)}&logout_uri=${encodeURIComponent(logoutUri)}`)
      return false
    },
    async getIdentity() {
      const user = await userManager.getUser()
      if (!user) throw new Error('Signed out')
      const profile = user.profile
      return { id: profile.sub, fullName: (profile.name as string | undefined) ?? (profile.email as string | undefined) ?? profile.sub }
    },
    async getPermissions() {
      // Signed out: no permissions (throwing here would have react-admin retry with back-off first).
      if (!(await userManager.getUser())) return undefined
      // The role from the database (GET /me), not the token's groups: the API decides, so do we.
      role ??= whoAmI().then((me) => me.role)
      try {
        return await role
      } catch (error) {
        role = undefined
        throw error
      }
    },
  }
  return { authProvider, idToken, userManager }
}
