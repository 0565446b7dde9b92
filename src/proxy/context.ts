import type { FailureThrottle } from '../core/index.js'
import type { ClientLimits } from '../config/index.js'
import type { UpstreamPool } from '../upstream/index.js'
import type { RouteRateLimiter } from '../ratelimit/index.js'
import type { ClientAddressResolver } from './client-address.js'
import type { PathPolicy } from './path-normalize.js'
import type { Router } from './router.js'

/** What the request handler needs from the rest of the worker. Swapped whole on reload. */
export interface ProxyContext {
  readonly router: Router
  readonly pools: ReadonlyMap<string, UpstreamPool>
  readonly limits: ClientLimits
  readonly clientAddress: ClientAddressResolver
  /** Add a `Via` header both ways. */
  readonly via: boolean
  /** The admin token: a request presenting it in `x-lb-debug` gets a decision trace. */
  readonly debugToken?: string | undefined
  /** Wrong `x-lb-debug` tokens per client IP: past its limit a client gets 429 and no comparison. */
  readonly debugThrottle?: FailureThrottle | undefined
  /** Rate limiters by route name (routes with a `rateLimit`), with their `RateLimit-Policy` value. */
  readonly limiters: ReadonlyMap<string, { limiter: RouteRateLimiter; policyHeader: string }>
  /** How request paths are normalized for matching and forwarding (`listen.normalizePath`). */
  readonly paths: PathPolicy
}

/** Mutable per-worker flags the handler reads on every request. */
export interface ProxyRuntime {
  context: ProxyContext
  /** Set while draining: every response carries `Connection: close`. */
  shuttingDown: boolean
  /** Requests being proxied right now (drain waits for 0). */
  inFlight: number
}
