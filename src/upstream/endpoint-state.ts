import type { Dispatcher } from 'undici'
import type { Endpoint } from '../core/index.js'
import type { EndpointStats } from './endpoint-stats.js'

/** Everything one worker knows about one endpoint. Mutated only by {@link UpstreamPool}. */
export interface EndpointState {
  /** Replaced (never mutated) when the effective weight changes. */
  endpoint: Endpoint
  /** Weight from configuration or the admin API, before slow start. */
  configuredWeight: number
  readonly dispatcher: Dispatcher
  readonly stats: EndpointStats
  /** Active health checks. */
  healthy: boolean
  /** Passive checks (outlier detection). */
  ejected: boolean
  /** Operator drain. */
  drained: boolean
  /** Circuit breaker open. */
  circuitOpen: boolean
}

/**
 * The one predicate that decides whether an endpoint may receive new requests:
 * healthy, not ejected, not drained, circuit not open. Balancers only ever see ready endpoints.
 */
export function isReady(s: EndpointState): boolean {
  return s.healthy && !s.ejected && !s.drained && !s.circuitOpen
}
