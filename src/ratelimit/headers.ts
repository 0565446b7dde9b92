/**
 * Response headers for a rate-limited route, after the IETF draft "RateLimit header fields for HTTP"
 * (draft-ietf-httpapi-ratelimit-headers-10, September 2025, and -11; https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/).
 * Since draft -08 both fields are Structured Field Lists (RFC 9651) whose items are the policy name (a String)
 * with parameters:
 *
 *   RateLimit-Policy: "api";q=100;w=1;burst=20   q = quota units per window, w = window in seconds
 *   RateLimit: "api";r=17;t=1                    r = remaining quota units, t = seconds until reset
 *
 * `burst` is an extension parameter (the draft lets servers add parameters; clients ignore unknown ones; the
 * draft's own early examples used `burst`). A token bucket has no fixed window: we advertise its rate as
 * q per w (w = 1 s, or the smallest of 60 s / 3 600 s that makes q a whole number for slow rates), r = the
 * estimated whole tokens left, t = seconds until the bucket is full again. Refused requests also carry
 * `Retry-After` (RFC 9110 section 10.2.3, delay-seconds).
 */
import type { RateLimitPolicy, RateLimitResult } from './route-rate-limiter.js'

/** `"name";q=..;w=..;burst=..` for a route's policy (constant per route: compute it once). */
export function formatRateLimitPolicy(route: string, policy: Pick<RateLimitPolicy, 'ratePerSecond' | 'burst'>): string {
  let w = 1
  for (const candidate of [1, 60, 3_600]) {
    w = candidate
    if (Number.isInteger(policy.ratePerSecond * candidate)) break
  }
  const q = Math.max(1, Math.round(policy.ratePerSecond * w))
  return `${sfString(route)};q=${q};w=${w};burst=${Math.floor(policy.burst)}`
}

/**
 * Header name/value pairs, flat (`['ratelimit-policy', v, 'ratelimit', v, ...]`) for `res.writeHead(status,
 * rawHeaders)` or to push onto a header list. `Retry-After` only when the request was refused.
 * `policyHeader`: the route's {@link formatRateLimitPolicy} (pass it to avoid rebuilding it per request).
 */
export function rateLimitHeaders(result: RateLimitResult, route: string, policy: Pick<RateLimitPolicy, 'ratePerSecond' | 'burst'>, policyHeader = formatRateLimitPolicy(route, policy)): string[] {
  const out = ['ratelimit-policy', policyHeader, 'ratelimit', `${sfString(route)};r=${result.remaining};t=${result.resetSeconds}`]
  if (!result.allowed) out.push('retry-after', String(Math.max(1, result.retryAfterSeconds)))
  return out
}

/** A Structured Field String (RFC 9651 section 3.3.3): printable ASCII, `"` and `\` escaped; others become `_`. */
function sfString(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '\\$&')}"`
}
