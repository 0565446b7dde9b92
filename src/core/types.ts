/** Shared vocabulary of the balancer. No I/O lives in `core/`. */

/**
 * One backend in a pool. Immutable: a change of weight or state produces a new ready set, never a mutation.
 * `id` is `host:port` unless the configuration names it.
 */
export interface Endpoint {
  readonly id: string
  readonly url: URL
  /** Relative share of traffic; 0 means "send nothing" (balancers skip it). */
  readonly weight: number
  /** Used only when no primary endpoint of the pool is ready. */
  readonly backup: boolean
  /**
   * TLS name (SNI and certificate check) when the url's host is not it: a DNS-discovered endpoint's url
   * holds the address, this the name it was resolved from. `upstreamTls.serverName` still wins.
   */
  readonly serverName?: string | undefined
}

/** The load signals a balancer may read. Implemented by `upstream/endpoint-stats.ts`. */
export interface EndpointLoad {
  /** Requests currently in flight to this endpoint from this worker. */
  inFlight(id: string): number
  /** Peak-EWMA latency estimate in milliseconds (a neutral default before the first sample). */
  ewmaMs(id: string): number
}

/** Per-request input of a pick. */
export interface PickContext {
  /** Key for `consistent-hash` (client ip, header or cookie value). */
  hashKey?: string | undefined
  /** Endpoint ids already tried by this request; a balancer never returns one of them. */
  exclude?: ReadonlySet<string> | undefined
  /**
   * Sticky-session tag from the client's cookie. Honoured by the pool before any balancer runs (the
   * endpoint it names is used while it may take requests); balancers ignore it.
   */
  pin?: string | undefined
}

/** A load-balancing algorithm over the ready endpoints of one pool. A data structure: no timers, sockets or awaits. */
export interface Balancer {
  /** Called when the ready set or weights change, never per request. */
  reset(ready: readonly Endpoint[]): void
  /** Synchronous. Returns undefined when nothing is eligible; never throws for "no backend". */
  pick(ctx: PickContext): Endpoint | undefined
}

/** Builds a balancer. `random` returns a float in [0, 1); injected so tests can seed it. */
export type BalancerFactory = (load: EndpointLoad, random: () => number) => Balancer

/** Algorithm ids, exactly as written in the configuration. */
export const ALGORITHMS = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'p2c',
  'ewma',
  'consistent-hash',
  'random',
] as const
export type AlgorithmId = (typeof ALGORITHMS)[number]

/** A health state change reported by a checker: fires only when rise/fall thresholds flip the state. */
export interface HealthTransition {
  id: string
  healthy: boolean
  reason: string
  /** Clock ms. */
  at: number
}
