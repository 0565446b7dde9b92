import { randomUUID } from 'node:crypto'
import type { ErrorCode } from '../core/index.js'
import type { UpstreamPool } from '../upstream/index.js'
import { boundedRateLimitKey, rateLimitHeaders } from '../ratelimit/index.js'
import { stripMapped } from './client-address.js'
import { appendForwardedHeaders, copyRequestHeaders, type RequestHeaderFacts } from './headers.js'
import { ENCODED_SLASH_MESSAGE } from './path-normalize.js'
import type { RequestHead } from './request-head.js'
import { rewritePath, type CompiledRoute } from './router.js'
import type { ProxyContext } from './context.js'

/**
 * What admission learns about a request, kept by its owner (a plain request's exchange, an upgrade's
 * tunnel) whether it is admitted or not: a refusal is answered with the request's id, counted against
 * its route and pool, and logged with its client address.
 */
export interface AdmissionRecord {
  route: CompiledRoute | undefined
  /** The client's valid `X-Request-Id`, else a new one. */
  requestId: string
  /** The client address (trusted proxies honoured). */
  clientIp: string
  /** `RateLimit-Policy` / `RateLimit` (and `Retry-After` when refused) for the answer. */
  rateLimitHeaders: string[] | undefined
  /** The request target sent upstream (route rewrites applied). */
  target: string
}

/** An admitted request: the pool to lease from and what its headers said. */
export interface Admitted {
  pool: UpstreamPool
  facts: RequestHeaderFacts
  refused?: undefined
}

/** Why a request is not admitted: the error it is answered with. */
export interface Refusal {
  refused: ErrorCode
  message?: string | undefined
}

/**
 * The admission every request goes through, plain or upgrade, in this order: route (the path the guard
 * normalized; an encoded slash is refused), the forwarded header list (`headers`, hop-by-hop and the
 * route's removals dropped), request id and client address, the route's rate limit (synchronous: decided
 * from tokens leased in the background), then the `X-Forwarded-*` headers, the re-framed `Content-Length`
 * (plain requests), `Via` (when configured), the route's added headers and the rewritten target. Returns the header facts (framing, debug token, idempotency key) once admitted.
 * The pick and the breaker follow, through the pool's lease.
 */
export function admit(
  ctx: ProxyContext,
  head: RequestHead,
  headers: string[],
  into: AdmissionRecord,
  proto: 'http' | 'https',
  upgrade: boolean,
): Admitted | Refusal {
  const req = head.req
  const path = head.path
  const route = path === undefined ? undefined : ctx.router.match(head.method, head.host, path, req.rawHeaders)
  into.route = route
  const facts = copyRequestHeaders(req.rawHeaders, headers, route?.requestHeaders?.remove, upgrade)
  into.requestId = facts.requestId !== '' ? facts.requestId : randomUUID()
  const peer = stripMapped(req.socket.remoteAddress ?? '')
  into.clientIp = head.clientIp = ctx.clientAddress.resolve(peer, facts.forwardedFor)
  if (path === undefined) return { refused: 'LB_ERR_BAD_REQUEST', message: ENCODED_SLASH_MESSAGE }
  if (route === undefined) return { refused: 'LB_ERR_NO_ROUTE' }
  const pool = ctx.pools.get(route.pool)
  if (pool === undefined) return { refused: 'LB_ERR_NO_ROUTE' }
  const limit = route.rateLimit === undefined ? undefined : ctx.limiters.get(route.name)
  if (limit !== undefined && route.rateLimit !== undefined) {
    const r = limit.limiter.check(boundedRateLimitKey(head.key(route.rateLimit.key)))
    into.rateLimitHeaders = rateLimitHeaders(r, route.name, route.rateLimit, limit.policyHeader)
    if (!r.allowed) return { refused: 'LB_ERR_RATE_LIMITED' }
  }
  appendForwardedHeaders(headers, facts, peer, proto, into.requestId)
  if (!upgrade && facts.contentLength >= 0) headers.push('content-length', String(facts.contentLength))
  if (ctx.via) headers.push('via', `${req.httpVersion} lb`)
  if (route.requestHeaders !== undefined) for (const x of route.requestHeaders.append) headers.push(x)
  into.target = rewritePath(route, head.forwardTarget(route.stripPrefix !== undefined || route.replacePath !== undefined))
  return { pool, facts }
}

/** True when {@link admit} refused the request. */
export function isRefusal(r: Admitted | Refusal): r is Refusal {
  return (r as Refusal).refused !== undefined
}
