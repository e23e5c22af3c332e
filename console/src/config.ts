/** What the console reads at start-up from /console/config.json (written by CDK in AWS, by the local stack locally). */
export interface ConsoleConfig {
  /** Base URL of the HTTP API (the admin routes are under /admin). */
  apiUrl: string
  /** The OpenID issuer: the user pool's `https://cognito-idp.<region>.amazonaws.com/<poolId>`. */
  issuer: string
  /** The hosted UI's base URL (the user pool domain): `/oauth2/*` and `/logout` live there. */
  domain: string
  /** The console's own public app client (no secret). */
  clientId: string
  stage: string
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: 'no-store' })
  if (!response.ok) throw new Error(`config.json answered ${response.status}`)
  const config = (await response.json()) as Partial<ConsoleConfig>
  for (const key of ['apiUrl', 'issuer', 'domain', 'clientId'] as const) {
    if (typeof config[key] !== 'string' || config[key] === '') throw new Error(`config.json has no ${key}`)
  }
  return config as ConsoleConfig
}
