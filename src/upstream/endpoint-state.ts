import type { Dispatcher } from 'undici'
import type { Endpoint } from '../core/index.js'
import type { CircuitBreaker } from './breaker.js'
import type { EndpointStats } from './endpoint-stats.js'

/** A try sent to an endpoint that has no response byte yet (see `Lease`). */
export interface WaitingTry {
  /** The endpoint left rotation (unhealthy, ejected): the try may be cancelled and sent elsewhere. */
  endpointDown(): void
}

/** Everything one worker knows about one endpoint. Mutated only by {@link UpstreamPool}. */
export interface EndpointState {
  /** Identity and configured weight; replaced (never mutated) when an operator re-weights it. */
  endpoint: Endpoint
  readonly dispatcher: Dispatcher
  /**
   * The fast path's own HTTP/1.1 connections (`upstream/h1/`), for plain `http://` endpoints of an
   * `http1` pool while the fast path is on; undefined otherwise. Both dispatchers share the breaker.
   */
  readonly fastDispatcher?: Dispatcher | undefined
  readonly stats: EndpointStats
  /** Tries sent here that have no response byte yet (leases between admission and first byte). */
  readonly waiting: Set<WaitingTry>
  /** Error-rate breaker and concurrency limits. */
  readonly breaker: CircuitBreaker
  /** Active health checks. */
  healthy: boolean
  /** Passive checks (outlier detection). */
  ejected: boolean
  /** Operator drain. */
  drained: boolean
  /** Circuit breaker open. */
  circuitOpen: boolean
  /** Clock ms when the endpoint last became ready after not being ready (slow start), -Infinity = never ramped. */
  readySince: number
  /** Whether the endpoint was ready at the last rebuild (to notice "became ready"). */
  wasReady: boolean
}

/**
 * The one predicate that decides whether an endpoint may receive new requests:
 * healthy, not ejected, not drained, circuit not open. Balancers only ever see ready endpoints.
 */
export function isReady(s: EndpointState): boolean {
  return s.healthy && !s.ejected && !s.drained && !s.circuitOpen
}
