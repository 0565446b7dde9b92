import { Pool as UndiciPool, type Dispatcher } from 'undici'
import type { Balancer, Clock, Endpoint, EndpointLoad, PickContext } from '../core/index.js'
import { systemClock, systemRandom } from '../core/index.js'
import { createBalancer } from '../balancer/index.js'
import type { BackendConfig, PoolConfig } from '../config/index.js'
import { EndpointStats } from './endpoint-stats.js'
import { isReady, type EndpointState } from './endpoint-state.js'

/** Options of {@link UpstreamPool}; everything is injectable for tests. */
export interface UpstreamPoolOptions {
  clock?: Clock
  random?: () => number
  /** Builds the keep-alive connection pool of one endpoint (default: an undici Pool). */
  createDispatcher?: (url: URL, config: PoolConfig) => Dispatcher
}

/** Operator and health facts about one endpoint, as shown by the admin API. */
export interface EndpointSnapshot {
  id: string
  url: string
  weight: number
  backup: boolean
  healthy: boolean
  ejected: boolean
  drained: boolean
  circuitOpen: boolean
  ready: boolean
  inFlight: number
  ewmaMs: number
}

/**
 * One configured pool inside one worker: its endpoints, their keep-alive connections and load
 * signals, and the balancers over the ready ones. Health, ejection, drain and circuit changes arrive
 * through the setters; each rebuilds the ready set once (never per request), so `pick()` stays a
 * synchronous lookup.
 */
export class UpstreamPool {
  readonly name: string
  readonly config: PoolConfig
  private readonly states = new Map<string, EndpointState>()
  private readonly primary: Balancer
  private readonly backup: Balancer
  private readonly clock: Clock
  private readonly createDispatcher: (url: URL, config: PoolConfig) => Dispatcher
  private readyCount = 0

  constructor(config: PoolConfig, options: UpstreamPoolOptions = {}) {
    this.name = config.name
    this.config = config
    this.clock = options.clock ?? systemClock
    this.createDispatcher = options.createDispatcher ?? createUndiciPool
    const random = options.random ?? systemRandom
    const states = this.states
    const load: EndpointLoad = {
      inFlight: (id) => states.get(id)?.stats.inFlight ?? 0,
      ewmaMs: (id) => states.get(id)?.stats.ewmaMs ?? 1,
    }
    this.primary = createBalancer(config.algorithm, load, random)
    this.backup = createBalancer(config.algorithm, load, random)
    for (const backend of config.backends) this.addEndpointState(backend)
    this.rebuild()
  }

  /**
   * Picks a ready endpoint: a primary one if any is eligible, else a backup one.
   * Returns undefined when nothing is ready (the caller answers 503 at once).
   */
  pick(ctx: PickContext): EndpointState | undefined {
    const endpoint = this.primary.pick(ctx) ?? this.backup.pick(ctx)
    return endpoint === undefined ? undefined : this.states.get(endpoint.id)
  }

  /** The state of one endpoint, or undefined. */
  get(id: string): EndpointState | undefined {
    return this.states.get(id)
  }

  /** All endpoint states (read-only use). */
  all(): IterableIterator<EndpointState> {
    return this.states.values()
  }

  /** Number of ready endpoints (primaries and backups). */
  get ready(): number {
    return this.readyCount
  }

  /** Milliseconds, for latency samples. */
  now(): number {
    return this.clock.now()
  }

  /** Active health result for one endpoint. Returns true when the ready set changed. */
  setHealthy(id: string, healthy: boolean): boolean {
    return this.update(id, (s) => (s.healthy === healthy ? false : ((s.healthy = healthy), true)))
  }

  /** Passive (outlier) ejection of one endpoint. */
  setEjected(id: string, ejected: boolean): boolean {
    return this.update(id, (s) => (s.ejected === ejected ? false : ((s.ejected = ejected), true)))
  }

  /** Operator drain: a drained endpoint gets no new request; in-flight ones finish. */
  setDrained(id: string, drained: boolean): boolean {
    return this.update(id, (s) => (s.drained === drained ? false : ((s.drained = drained), true)))
  }

  /** Circuit state: an open circuit takes the endpoint out of the ready set. */
  setCircuitOpen(id: string, open: boolean): boolean {
    return this.update(id, (s) => (s.circuitOpen === open ? false : ((s.circuitOpen = open), true)))
  }

  /** Changes the effective weight (operator re-weight or slow start). */
  setWeight(id: string, weight: number): boolean {
    return this.update(id, (s) => {
      if (s.endpoint.weight === weight) return false
      s.endpoint = { ...s.endpoint, weight }
      return true
    })
  }

  /** Adds an endpoint (admin API, reload). Returns false when the id exists already. */
  addEndpoint(backend: BackendConfig): boolean {
    if (this.states.has(backend.id)) return false
    this.addEndpointState(backend)
    this.rebuild()
    return true
  }

  /**
   * Removes an endpoint: it gets no new request at once; its connections close after the
   * requests in flight on them finish.
   */
  removeEndpoint(id: string): boolean {
    const state = this.states.get(id)
    if (state === undefined) return false
    this.states.delete(id)
    this.rebuild()
    state.dispatcher.close().catch(() => undefined)
    return true
  }

  /** Admin/metrics view of every endpoint. */
  snapshot(): EndpointSnapshot[] {
    const out: EndpointSnapshot[] = []
    for (const s of this.states.values()) {
      out.push({
        id: s.endpoint.id,
        url: s.endpoint.url.origin,
        weight: s.endpoint.weight,
        backup: s.endpoint.backup,
        healthy: s.healthy,
        ejected: s.ejected,
        drained: s.drained,
        circuitOpen: s.circuitOpen,
        ready: isReady(s),
        inFlight: s.stats.inFlight,
        ewmaMs: Math.round(s.stats.ewmaMs * 100) / 100,
      })
    }
    return out
  }

  /** Closes every keep-alive connection (after in-flight requests finish). */
  async close(): Promise<void> {
    await Promise.all([...this.states.values()].map((s) => s.dispatcher.close().catch(() => undefined)))
  }

  private addEndpointState(backend: BackendConfig): void {
    const url = new URL(backend.url)
    const endpoint: Endpoint = { id: backend.id, url, weight: backend.weight, backup: backend.backup }
    this.states.set(backend.id, {
      endpoint,
      configuredWeight: backend.weight,
      dispatcher: this.createDispatcher(url, this.config),
      stats: new EndpointStats(),
      healthy: true,
      ejected: false,
      drained: backend.drained,
      circuitOpen: false,
    })
  }

  private update(id: string, change: (s: EndpointState) => boolean): boolean {
    const state = this.states.get(id)
    if (state === undefined || !change(state)) return false
    this.rebuild()
    return true
  }

  /** Recomputes the ready sets; the only place balancers are reset. */
  private rebuild(): void {
    const primaries: Endpoint[] = []
    const backups: Endpoint[] = []
    for (const s of this.states.values()) {
      if (!isReady(s)) continue
      if (s.endpoint.backup) backups.push(s.endpoint)
      else primaries.push(s.endpoint)
    }
    this.readyCount = primaries.length + backups.length
    this.primary.reset(primaries)
    // Backups serve only while no primary is ready.
    this.backup.reset(primaries.length === 0 ? backups : [])
  }
}

/** Keep-alive connections to one endpoint, with the pool's timeouts (SPEC 2 defaults). */
function createUndiciPool(url: URL, config: PoolConfig): Dispatcher {
  const t = config.timeouts
  return new UndiciPool(url.origin, {
    connections: config.maxConnectionsPerEndpoint > 0 ? config.maxConnectionsPerEndpoint : null,
    pipelining: 1,
    // Below Node's 5 s server default, so a socket the backend is about to close is never reused;
    // also caps what a backend's `Keep-Alive: timeout=` may ask for.
    keepAliveTimeout: t.idleMs,
    keepAliveMaxTimeout: t.idleMs,
    headersTimeout: t.headersMs,
    bodyTimeout: t.bodyMs,
    connectTimeout: t.connectMs,
    strictContentLength: true,
  })
}
