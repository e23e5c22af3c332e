/**
 * The console's Content-Security-Policy, one definition for CloudFront (lib/constructs/console-site.ts)
 * and the local stack (local/console-static.ts), so the browser tests run the app under the policy
 * it is deployed with. Plain strings in, one header value out; no dependencies (CDK passes tokens).
 *
 * - scripts only from the site itself (Vite emits one module bundle, no inline script);
 * - styles inline too: MUI (emotion) injects <style> elements at run time;
 * - connections to the API, the issuer (discovery, JWKS) and the hosted-UI domain (token, revoke);
 * - no form posts anywhere else, and nothing may frame the console.
 * Pass origins (scheme://host[:port]): a CSP source with a path matches that path only.
 */
export function consoleContentSecurityPolicy(origins: { api: string; issuer: string; hostedUi: string }): string {
  const connect = [...new Set([origins.api, origins.issuer, origins.hostedUi])].join(' ')
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ${connect}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "object-src 'none'",
  ].join('; ')
}
