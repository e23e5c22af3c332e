/**
 * Kept for bench/events.ts alone, which imports webSocketRequestContext from here: it now lives in
 * lambda-invoke.ts with the rest of what the local gateways run per request. Nothing in local/ or
 * lambdas/ imports this file; once the bench imports lambda-invoke.ts, delete it.
 */
export { webSocketRequestContext, type WebSocketEventSource } from './lambda-invoke.ts'
