import { Pool as UndiciPool, type Dispatcher } from 'undici'
import type { Balancer, Clock, Endpoint, EndpointLoad, PickContext, RequestKeySource } from '../core/index.js'
import { systemClock, systemRandom } from '../core/index.js'
import { createBalancer } from '../balancer/index.js'
import type { BackendConfig, PoolConfig } from '../config/index.js'
import { CircuitBreaker } from './breaker.js'
import { EndpointStats } from './endpoint-stats.js'
import { isReady, type EndpointState } from './endpoint-state.js'
import { OutlierDetector, type EjectionChange } from './health/index.js'
import { Lease, type LeaseGrantor } from './lease.js'
import type { BackendVerdict } from './try-outcome.js'
import { computeReadySets } from './ready-set.js'
import { Http2Dispatcher } from './h2-dispatcher.js'
import { Http1Dispatcher, loadResponseParser } from './h1/index.js'
import { RetryBudget } from './retry.js'
import { SharedDispatchers } from './shared-dispatchers.js'
import { stickyTag } from './sticky.js'
import { UpstreamTls } from './upstream-tls.js'

/** Options of {@link UpstreamPool}; everything is injectable for tests. */
export interface UpstreamPoolOptions {
  clock?: Clock
  random?: () => number
  /** Builds the keep-alive connection pool of one endpoint (default: an undici Pool). */
  createDispatcher?: (url: URL, config: PoolConfig, serverName?: string) => Dispatcher
  /** Give plain http:// HTTP/1.1 endpoints own connections for the fast path (default false). */
  fastPath?: boolean
  /** Global round robin: the shared sequence of a pool (numbers leased in blocks), if any. */
  sequence?: (pool: string) => (() => number | undefined) | undefined
  /** A passive-check ejection decided here (source 'local'), for the primary to spread to other workers. */
  onLocalEjection?: (pool: string, change: EjectionChange) => void
}

/** What a request offers the pool when it asks for a lease. */
export interface AcquireContext {
  /** Endpoint ids this request already tried; none of them is picked. */
  exclude?: ReadonlySet<string> | undefined
  /**
   * The request's key from a source (client address, header, cookie). Called only when the pool needs
   * one: consistent hashing, header or cookie stickiness. The caller should remember answers: a retry
   * asks again.
   */
  keyOf?: ((source: RequestKeySource) => string | undefined) | undefined
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
  circuit: 'closed' | 'open' | 'half-open'
  ready: boolean
  inFlight: number
  ewmaMs: number
}

/**
 * One configured pool inside one worker: its endpoints, their keep-alive connections, load signals,
 * breakers and passive checks, and the balancers over the ready ones. State changes arrive through
 * the setters; each rebuilds the ready set once (never per request), so `pick()` stays synchronous.
 */
export class UpstreamPool implements LeaseGrantor {
  readonly name: string
  readonly config: PoolConfig
  /** Retry budget of this pool in this worker. */
  readonly retryBudget: RetryBudget
  private readonly states = new Map<string, EndpointState>()
  private readonly primary: Balancer
  private readonly backup: Balancer
  private readonly clock: Clock
  private readonly createDispatcher: (url: URL, config: PoolConfig, serverName?: string) => Dispatcher
  private readonly outliers: OutlierDetector | undefined
  /** Cookie stickiness: endpoint id -> tag and back (tags are computed once per endpoint, not per request). */
  private readonly tagById = new Map<string, string>()
  private readonly idByTag = new Map<string, string>()
  /** Header stickiness with an algorithm other than consistent-hash: a hash ring over the same ready primaries. */
  private readonly stickyHash: Balancer | undefined
  /** The key the balancers hash on, if any: the sticky header, else the `consistent-hash` source. */
  private readonly hashOn: RequestKeySource | undefined
  /** The cookie that pins a client to an endpoint (cookie stickiness). */
  private readonly pinOn: RequestKeySource | undefined
  /** TLS of the pool's https:// endpoints, made with the first one (it watches the certificate files). */
  private tls: UpstreamTls | undefined
  /** Endpoints with the same origin share keep-alive connections, unless something is counted per endpoint. */
  private readonly shared: SharedDispatchers | undefined
  /** The same sharing for the fast path's own connections. */
  private readonly sharedFast: SharedDispatchers | undefined
  private readyCount = 0
  private rampTimer: NodeJS.Timeout | undefined
  private closed = false

  constructor(config: PoolConfig, private readonly options: UpstreamPoolOptions = {}) {
    this.name = config.name
    this.config = config
    this.clock = options.clock ?? systemClock
    this.createDispatcher = options.createDispatcher ?? ((url, c, name) => createUndiciPool(url, c, url.protocol === 'https:' ? this.upstreamTls() : undefined, name))
    // The breaker's connection and pending limits count per endpoint on the dispatcher, so they keep one each.
    if (config.circuitBreaker.maxConnections === 0 && config.circuitBreaker.maxPending === 0) {
      this.shared = new SharedDispatchers((url, name) => this.createDispatcher(url, config, name))
      // Without Node's parser binding there is no fast path to share.
      if (options.fastPath === true && loadResponseParser() !== undefined) this.sharedFast = new SharedDispatchers((url) => createFastDispatcher(url, config) as Dispatcher)
    }
    const random = options.random ?? systemRandom
    const states = this.states
    const load: EndpointLoad = {
      inFlight: (id) => states.get(id)?.stats.inFlight ?? 0,
      ewmaMs: (id) => states.get(id)?.stats.ewmaMs ?? 1,
    }
    // Slow start needs weights; plain round robin ignores them, its smooth weighted twin does not
    // (with equal weights both give the same sequence).
    const algorithm = config.algorithm === 'round-robin' && config.slowStartMs > 0 ? 'weighted-round-robin' : config.algorithm
    const sequence = algorithm === 'round-robin' ? options.sequence?.(config.name) : undefined
    this.primary = createBalancer(algorithm, load, random, { sequence })
    this.backup = createBalancer(algorithm, load, random)
    if (config.stickySession?.kind === 'header' && algorithm !== 'consistent-hash') this.stickyHash = createBalancer('consistent-hash', load, random)
    const sticky = config.stickySession
    this.hashOn = sticky?.kind === 'header' ? { kind: 'header', name: sticky.header } : algorithm === 'consistent-hash' ? config.hashOn : undefined
    this.pinOn = sticky?.kind === 'cookie' ? { kind: 'cookie', name: sticky.cookie } : undefined
    this.retryBudget = new RetryBudget({ ...config.retries, clock: this.clock })
    if (config.outlierDetection.enabled) {
      this.outliers = new OutlierDetector({ pool: config.name, config: config.outlierDetection, clock: this.clock, random })
      this.outliers.onChange((change) => {
        this.setEjected(change.id, change.ejected)
        if (change.source === 'local') this.options.onLocalEjection?.(this.name, change)
      })
    }
    for (const backend of config.backends) this.addEndpointState(backend, -Infinity)
    this.outliers?.setEndpoints(this.states.keys())
    this.rebuild()
  }

  /**
   * Admits one try: picks a ready endpoint that takes one more request (breaker state, trial slots,
   * concurrency limits), a primary if any is eligible, else a backup, and returns the lease that holds
   * it. The caller must end the lease exactly once ({@link Lease.end}; later calls are ignored).
   * Returns undefined when nothing is eligible. With cookie stickiness the lease names the tag to set
   * when the client is not pinned to its endpoint yet ({@link Lease.stickyTag}).
   */
  acquire(ctx: AcquireContext): Lease | undefined {
    const keyOf = ctx.keyOf
    const pin = this.pinOn === undefined || keyOf === undefined ? undefined : keyOf(this.pinOn)
    const state = this.pick({ exclude: ctx.exclude, hashKey: this.hashKeyOf(keyOf), pin })
    if (state === undefined) return undefined
    const tag = this.pinOn === undefined ? undefined : this.tagById.get(state.endpoint.id)
    return new Lease(this, state, tag === pin ? undefined : tag)
  }

  /**
   * The key the balancers hash on: the sticky header's value (absent: the algorithm picks), else for
   * `consistent-hash` its `hashOn` source. With both, the sticky header wins and `hashOn` is the fallback.
   */
  private hashKeyOf(keyOf: AcquireContext['keyOf']): string | undefined {
    if (keyOf === undefined || this.hashOn === undefined) return undefined
    const key = keyOf(this.hashOn)
    if (key !== undefined || this.config.stickySession?.kind !== 'header' || this.config.algorithm !== 'consistent-hash') return key
    return keyOf(this.config.hashOn)
  }

  /** Feeds one try's verdict to the breaker and the passive checks (called by {@link Lease}). */
  judge(state: EndpointState, verdict: BackendVerdict): void {
    const breaker = state.breaker
    if (verdict === 'abandoned') {
      breaker.onAbandoned()
      return
    }
    breaker.onResult(verdict === 'success')
    if (this.outliers === undefined) return
    if (verdict === 'success') this.outliers.recordSuccess(state.endpoint.id)
    else this.outliers.recordFailure(state.endpoint.id, verdict)
  }

  /** Frees one try's concurrency slot (called by {@link Lease}). */
  free(state: EndpointState): void {
    state.breaker.release()
  }

  /**
   * Stickiness: `ctx.pin` (a cookie tag) names an endpoint that is taken while it is healthy, not
   * ejected, its circuit not open, not already tried and admitting; a drained one still takes the
   * sessions pinned to it (HAProxy's drain). Otherwise the algorithm picks. With `stickySession.header`,
   * `ctx.hashKey` is hashed over the ready primaries whatever the algorithm.
   */
  private pick(ctx: PickContext): EndpointState | undefined {
    if (ctx.pin !== undefined) {
      const pinned = this.pinned(ctx.pin, ctx.exclude)
      if (pinned !== undefined) return pinned
    }
    const first = this.stickyHash !== undefined && ctx.hashKey !== undefined ? this.stickyHash : this.primary
    let exclude = ctx.exclude
    for (let i = 0; i <= this.states.size; i++) {
      const endpoint = first.pick(ctx) ?? this.backup.pick(ctx)
      if (endpoint === undefined) return undefined
      const state = this.states.get(endpoint.id)
      if (state !== undefined && this.admit(state)) return state
      // Refused by its breaker: try the others (rare path, so the Set is allocated only here).
      const next = new Set(exclude)
      next.add(endpoint.id)
      exclude = next
      ctx = { hashKey: ctx.hashKey, exclude }
    }
    return undefined
  }

  /** The sticky-cookie tag of an endpoint (undefined when the pool has no cookie stickiness or no such endpoint). */
  stickyTag(id: string): string | undefined {
    return this.tagById.get(id)
  }

  /** The state of one endpoint, or undefined. */
  get(id: string): EndpointState | undefined {
    return this.states.get(id)
  }

  /** Number of ready endpoints (primaries and backups). */
  get ready(): number {
    return this.readyCount
  }

  /**
   * Active health result for one endpoint. Returns true when it changed. Turning healthy also ends a
   * passive ejection (as Envoy's `successful_active_health_check_uneject_host`): the probes have just
   * shown the endpoint is well, so it need not sit out the rest of its ejection time.
   */
  setHealthy(id: string, healthy: boolean): boolean {
    if (healthy) this.outliers?.restore(id, 'active health check passed', 'remote')
    const changed = this.update(id, (s) => (s.healthy === healthy ? false : ((s.healthy = healthy), true)))
    if (changed && !healthy) this.cancelWaiting(id)
    return changed
  }

  /** Passive (outlier) ejection of one endpoint. */
  setEjected(id: string, ejected: boolean): boolean {
    const changed = this.update(id, (s) => (s.ejected === ejected ? false : ((s.ejected = ejected), true)))
    if (changed && ejected) this.cancelWaiting(id)
    return changed
  }

  /**
   * The endpoint just left rotation (unhealthy, ejected): tell every try still waiting for its first
   * response byte there, so each can be cancelled and retried elsewhere instead of waiting out its
   * response timeout. Runs after the ready set was rebuilt, so a retry cannot pick this endpoint again.
   * A drained endpoint is not down: its in-flight tries finish.
   */
  private cancelWaiting(id: string): void {
    const state = this.states.get(id)
    if (state === undefined || state.waiting.size === 0) return
    // A copy: a cancelled try ends its lease (and may start a new one) while we iterate.
    for (const t of [...state.waiting]) t.endpointDown()
  }

  /** An ejection decided in another worker (duration, since clocks differ per process). */
  applyRemoteEjection(id: string, ejected: boolean, durationMs: number | undefined): void {
    if (this.outliers !== undefined) this.outliers.applyRemote({ id, ejected, durationMs, reason: 'ejected by another worker' })
    else this.setEjected(id, ejected)
  }

  /** Operator drain: a drained endpoint gets no new request; in-flight ones finish. */
  setDrained(id: string, drained: boolean): boolean {
    return this.update(id, (s) => (s.drained === drained ? false : ((s.drained = drained), true)))
  }

  /** Changes the configured weight (operator re-weight). */
  setWeight(id: string, weight: number): boolean {
    return this.update(id, (s) => {
      if (s.endpoint.weight === weight) return false
      s.endpoint = { ...s.endpoint, weight }
      return true
    })
  }

  /** Adds an endpoint (admin API, reload); it ramps up under slow start. False when the id exists. */
  addEndpoint(backend: BackendConfig): boolean {
    if (this.states.has(backend.id)) return false
    this.addEndpointState(backend, 0)
    this.outliers?.setEndpoints(this.states.keys())
    this.rebuild()
    return true
  }

  /** Removes an endpoint: no new request at once; its connections close after in-flight requests. */
  removeEndpoint(id: string): boolean {
    const state = this.states.get(id)
    if (state === undefined) return false
    this.states.delete(id)
    const tag = this.tagById.get(id)
    if (tag !== undefined) {
      this.tagById.delete(id)
      this.idByTag.delete(tag)
    }
    this.outliers?.setEndpoints(this.states.keys())
    state.breaker.dispose()
    this.rebuild()
    if (this.shared !== undefined) this.shared.release(state.endpoint.url, state.endpoint.serverName)
    else state.dispatcher.close().catch(() => undefined)
    if (state.fastDispatcher !== undefined) {
      if (this.sharedFast !== undefined) this.sharedFast.release(state.endpoint.url)
      else state.fastDispatcher.close().catch(() => undefined)
    }
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
        circuit: s.breaker.state,
        ready: isReady(s),
        inFlight: s.stats.inFlight,
        ewmaMs: Math.round(s.stats.ewmaMs * 100) / 100,
      })
    }
    return out
  }

  /** Stops timers and closes every keep-alive connection (after in-flight requests finish). */
  async close(): Promise<void> {
    this.closed = true
    this.tls?.close()
    clearTimeout(this.rampTimer)
    this.outliers?.close()
    for (const s of this.states.values()) s.breaker.dispose()
    const fast =
      this.sharedFast !== undefined
        ? [this.sharedFast.close()]
        : [...this.states.values()].flatMap((s) => (s.fastDispatcher === undefined ? [] : [s.fastDispatcher.close().catch(() => undefined)]))
    if (this.shared !== undefined) await this.shared.close()
    else await Promise.all([...this.states.values()].map((s) => s.dispatcher.close().catch(() => undefined)))
    await Promise.all(fast)
  }

  private upstreamTls(): UpstreamTls {
    return (this.tls ??= new UpstreamTls(this.config.upstreamTls, { pool: this.name, connectTimeoutMs: this.config.timeouts.connectMs }))
  }

  private pinned(tag: string, exclude: ReadonlySet<string> | undefined): EndpointState | undefined {
    const id = this.idByTag.get(tag)
    if (id === undefined || exclude?.has(id) === true) return undefined
    const s = this.states.get(id)
    // Readiness without the drain: a drained endpoint keeps its sessions.
    if (s === undefined || !s.healthy || s.ejected || s.circuitOpen || s.endpoint.weight === 0) return undefined
    return this.admit(s) ? s : undefined
  }

  private admit(state: EndpointState): boolean {
    const breaker = state.breaker
    const maxPending = this.config.circuitBreaker.maxPending
    // undici's stats object is built on read: consult it only when the limit is set.
    if (maxPending > 0 && pendingOf(state) >= maxPending) return false
    if (!breaker.allowRequest()) return false
    if (breaker.tryAcquire()) return true
    breaker.onAbandoned()
    return false
  }

  /** The fast path's connections for an endpoint at `url`, shared by endpoints of one address when allowed. */
  private fastDispatcherFor(url: URL): Dispatcher | undefined {
    if (this.options.fastPath !== true || !isFastEligible(url, this.config)) return undefined
    return this.sharedFast !== undefined ? this.sharedFast.acquire(url) : createFastDispatcher(url, this.config)
  }

  private addEndpointState(backend: BackendConfig, readySince: number): void {
    const url = new URL(backend.url)
    const sticky = this.config.stickySession
    if (sticky?.kind === 'cookie') {
      const tag = stickyTag(sticky.secret, this.name, backend.id)
      this.tagById.set(backend.id, tag)
      this.idByTag.set(tag, backend.id)
    }
    const endpoint: Endpoint = { id: backend.id, url, weight: backend.weight, backup: backend.backup, serverName: backend.serverName }
    const breaker = new CircuitBreaker({ pool: this.name, endpoint: backend.id, config: this.config.circuitBreaker, clock: this.clock })
    // The breaker publishes its own transitions on the circuit channel.
    breaker.onStateChange((change) => {
      this.update(backend.id, (s) => {
        const open = change.state === 'open'
        return s.circuitOpen === open ? false : ((s.circuitOpen = open), true)
      })
    })
    this.states.set(backend.id, {
      endpoint,
      dispatcher: this.shared !== undefined ? this.shared.acquire(url, backend.serverName) : this.createDispatcher(url, this.config, backend.serverName),
      fastDispatcher: this.fastDispatcherFor(url),
      stats: new EndpointStats(),
      waiting: new Set(),
      breaker,
      healthy: true,
      ejected: false,
      drained: backend.drained,
      circuitOpen: false,
      readySince,
      wasReady: false,
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
    const sets = computeReadySets(this.states.values(), this.config, this.clock.now())
    this.readyCount = sets.primaries.length + sets.backups.length
    this.primary.reset(sets.primaries)
    this.stickyHash?.reset(sets.primaries)
    this.backup.reset(sets.backups)
    clearTimeout(this.rampTimer)
    if (sets.ramping && !this.closed) {
      // Re-weigh ramping endpoints in about 20 steps over the slow-start window.
      this.rampTimer = setTimeout(() => this.rebuild(), Math.max(50, Math.min(1000, this.config.slowStartMs / 20)))
      this.rampTimer.unref()
    }
  }
}

/** Requests waiting for a connection to the endpoint, on either dispatcher. */
function pendingOf(state: EndpointState): number {
  const fast = state.fastDispatcher === undefined ? 0 : (state.fastDispatcher as unknown as Http1Dispatcher).stats.pending
  return (state.dispatcher as UndiciPool).stats.pending + fast
}

/**
 * The fast path's own connections to a plain http:// endpoint of an HTTP/1.1 pool, with the pool's limits
 * and timeouts; undefined for other endpoints or when Node's parser binding is missing.
 */
function createFastDispatcher(url: URL, config: PoolConfig): Dispatcher | undefined {
  if (!isFastEligible(url, config)) return undefined
  const parser = loadResponseParser()
  if (parser === undefined) return undefined
  const t = config.timeouts
  const h1 = new Http1Dispatcher(url, parser, {
    connectMs: t.connectMs,
    headersMs: t.headersMs,
    bodyMs: t.bodyMs,
    idleMs: t.idleMs,
    maxConnections: connectionLimit(config) ?? 0,
  })
  // It implements the part of Dispatcher the proxy calls (dispatch, close, stats.pending).
  return h1 as unknown as Dispatcher
}

/** Plain http:// endpoints of an HTTP/1.1 pool may take the fast path's own connections. */
function isFastEligible(url: URL, config: PoolConfig): boolean {
  return url.protocol === 'http:' && (config.protocol === undefined || config.protocol === 'http1')
}

/** The per-endpoint connection cap: the smaller of the pool's and the breaker's (0 = unlimited). */
function connectionLimit(config: PoolConfig): number | null {
  const limits = [config.maxConnectionsPerEndpoint, config.circuitBreaker.maxConnections].filter((n) => n > 0)
  return limits.length === 0 ? null : Math.min(...limits)
}

/**
 * Keep-alive connections to one endpoint, with the pool's timeouts (connect, headers, body, keep-alive); `connect` opens
 * the TLS connections of an https:// endpoint (see `upstream-tls.ts`), named `serverName` when given.
 */
function createUndiciPool(url: URL, config: PoolConfig, tls?: UpstreamTls, serverName?: string): Dispatcher {
  const t = config.timeouts
  if (config.protocol === 'h2c' || config.protocol === 'h2') {
    const h2 = new Http2Dispatcher(url, {
      protocol: config.protocol,
      // Read at each new session, so reloaded certificate files apply to the next connection.
      tls: tls === undefined ? undefined : () => tls.connectionOptions(url, serverName),
      connectTimeoutMs: t.connectMs,
      headersTimeoutMs: t.headersMs,
      bodyTimeoutMs: t.bodyMs,
      idleTimeoutMs: t.idleMs,
      maxSessions: connectionLimit(config) ?? 0,
    })
    // It implements the part of Dispatcher the proxy calls (dispatch, close, stats.pending).
    return h2 as unknown as Dispatcher
  }
  const pool = new UndiciPool(url.origin, {
    ...(tls === undefined ? {} : { connect: serverName === undefined ? tls.connect : tls.connectAs(serverName) }),
    connections: connectionLimit(config),
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
  if (tls !== undefined) keepTlsName(pool, serverName ?? url.hostname)
  return pool
}

/**
 * undici keys a TLS connection by each request's name, taken from its Host header, and closes the
 * connection when the next request names another: with clients sending many Host values, https
 * endpoints would reconnect all the time. The connector ignores that name (the endpoint's own is used,
 * see `UpstreamTls.connect`), so every request carries one fixed name instead.
 */
function keepTlsName(pool: UndiciPool, name: string): void {
  const dispatch = pool.dispatch.bind(pool)
  // `servername` is a request option of undici's (core/request.js) its typings omit.
  pool.dispatch = (opts, handler) => dispatch({ ...opts, servername: name } as Dispatcher.DispatchOptions, handler)
}
