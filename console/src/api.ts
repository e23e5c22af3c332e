import { HttpError } from 'react-admin'

/** The API's error body: `{"error": {"code", "message", "details"}}` (API Gateway's own: `{"message"}`). */
interface ErrorBody {
  error?: { code?: string; message?: string; details?: unknown }
  message?: string
}

export type Fetcher = <T>(method: string, path: string, body?: unknown) => Promise<T>

/**
 * Calls the HTTP API with the signed-in user's ID token. A refusal becomes an HttpError carrying
 * the API's own words (`409 conflict: trainer still has members`), so the page shows them as-is.
 */
export function createFetcher(apiUrl: string, token: () => Promise<string>): Fetcher {
  const base = apiUrl.replace(/\/$/, '')
  return async <T,>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await response.text()
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    if (!response.ok) {
      const error = (json ?? {}) as ErrorBody
      const words = error.error?.message ?? error.message ?? (text || response.statusText)
      const code = error.error?.code
      throw new HttpError(`${response.status}${code ? ` ${code}` : ''}: ${words}`, response.status, json)
    }
    return json as T
  }
}
