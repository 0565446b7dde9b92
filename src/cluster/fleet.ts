import type { Worker } from 'node:cluster'
import { drainChannel, type Endpoint } from '../core/index.js'
import type { BackendConfig, LbConfig, PoolConfig } from '../config/index.js'
import type { HealthChecker } from '../upstream/index.js'
import { EndpointRegistry } from './endpoint-registry.js'
import type { EndpointChange, PrimaryMessage, WorkerMessage } from './ipc.js'
import type { WorkerSupervisor } from './primary.js'

/** One endpoint as the primary sees it (admin API, dashboard). */
export interface EndpointView {
  id: string
  url: string
  weight: number
  backup: boolean
  healthy: boolean
  ejected: boolean
  drained: boolean
  circuit: 'closed' | 'open' | 'half-open'
  ready: boolean
}

/** One pool as the primary sees it. */
export interface PoolView {
  name: string
  algorithm: string
  endpoints: EndpointView[]
}

/** Options of {@link Fleet}. */
export interface FleetOptions {
  config: LbConfig
  supervisor: WorkerSupervisor
  /** Builds the active checker of a pool, or undefined when its checks are disabled. */
  createChecker: (pool: PoolConfig) => HealthChecker | undefined
}

/**
 * The primary's control of the endpoints every worker serves: runs the active health checks once
 * per instance (never per worker), relays passive ejections between workers, applies operator
 * changes (drain, enable, weight, add, remove), and keeps the registry that brings replacement
 * workers up to date.
 */
export class Fleet {
  readonly registry = new EndpointRegistry()
  private config: LbConfig
  private readonly checkers = new Map<string, HealthChecker>()
  private readonly circuits = new Map<string, EndpointView['circuit']>()

  constructor(private readonly options: FleetOptions) {
    this.config = options.config
  }

  /** Starts the active checks of every pool. */
  start(): void {
    for (const pool of Object.values(this.config.pools)) this.startChecker(pool)
  }

  /** Stops every checker. */
  async stop(): Promise<void> {
    await Promise.all([...this.checkers.values()].map((c) => c.stop()))
    this.checkers.clear()
  }

  /**
   * Applies a reloaded configuration: workers rebuild their routes and pools (unchanged pools keep
   * their connections and state), checkers follow the new endpoint lists, and the shared facts of
   * endpoints that still exist (health, operator drain and weight, ejections) are replayed.
   */
  async reload(config: LbConfig): Promise<void> {
    const previous = this.config
    this.config = config
    const supervisor = this.options.supervisor
    supervisor.setConfig(config)
    for (const [name, checker] of this.checkers) {
      const next = config.pools[name]
      if (next !== undefined && JSON.stringify(next.healthCheck) === JSON.stringify(previous.pools[name]?.healthCheck)) continue
      this.checkers.delete(name)
      await checker.stop()
    }
    for (const pool of Object.values(previous.pools)) {
      for (const b of pool.backends) {
        if (!(config.pools[pool.name]?.backends.some((x) => x.id === b.id) ?? false)) this.registry.forget(pool.name, b.id)
      }
    }
    supervisor.broadcast({ type: 'lb:reload', config })
    for (const m of this.registry.replay()) supervisor.broadcast(m)
    for (const pool of Object.values(config.pools)) this.restartChecker(pool)
  }

  /** Handles a worker's report (wired to the supervisor's onMessage). */
  onWorkerMessage(worker: Worker, msg: WorkerMessage): void {
    if (msg.type === 'lb:ejection') {
      const change: EndpointChange = { ejected: msg.ejected, durationMs: msg.durationMs }
      this.registry.apply(msg.pool, msg.id, change)
      this.options.supervisor.broadcast({ type: 'lb:endpoint', pool: msg.pool, id: msg.id, change }, worker)
    } else if (msg.type === 'lb:circuit') {
      this.circuits.set(`${msg.pool}\u0000${msg.id}`, msg.state)
    }
  }

  /** Every pool with its endpoints' shared state. */
  pools(): PoolView[] {
    return Object.values(this.config.pools).map((p) => this.view(p))
  }

  /** One pool, or undefined. */
  pool(name: string): PoolView | undefined {
    const p = this.config.pools[name]
    return p === undefined ? undefined : this.view(p)
  }

  /** Operator drain (true) or enable (false). Returns false for an unknown pool or endpoint. */
  setDrained(pool: string, id: string, drained: boolean): boolean {
    if (!this.has(pool, id)) return false
    this.change(pool, id, { drained })
    if (drainChannel.hasSubscribers) drainChannel.publish({ pool, endpoint: id, draining: drained })
    return true
  }

  /** Operator re-weight. */
  setWeight(pool: string, id: string, weight: number): boolean {
    if (!this.has(pool, id)) return false
    const p = this.config.pools[pool] as PoolConfig
    p.backends = p.backends.map((b) => (b.id === id ? { ...b, weight } : b))
    this.change(pool, id, { weight })
    return true
  }

  /** Adds an endpoint to a pool on every worker; false when the pool is unknown or the id taken. */
  addEndpoint(pool: string, backend: BackendConfig): boolean {
    const p = this.config.pools[pool]
    if (p === undefined || p.backends.some((b) => b.id === backend.id)) return false
    p.backends = [...p.backends, backend]
    this.options.supervisor.setConfig(this.config)
    this.options.supervisor.broadcast({ type: 'lb:endpoints', pool, add: [backend] })
    this.restartChecker(p)
    return true
  }

  /** Removes an endpoint from a pool on every worker (in-flight requests finish). */
  removeEndpoint(pool: string, id: string): boolean {
    const p = this.config.pools[pool]
    if (p === undefined || !p.backends.some((b) => b.id === id)) return false
    p.backends = p.backends.filter((b) => b.id !== id)
    this.registry.forget(pool, id)
    this.options.supervisor.setConfig(this.config)
    this.options.supervisor.broadcast({ type: 'lb:endpoints', pool, remove: [id] })
    this.restartChecker(p)
    return true
  }

  private has(pool: string, id: string): boolean {
    return this.config.pools[pool]?.backends.some((b) => b.id === id) ?? false
  }

  private change(pool: string, id: string, change: EndpointChange): void {
    this.registry.apply(pool, id, change)
    this.options.supervisor.broadcast({ type: 'lb:endpoint', pool, id, change } satisfies PrimaryMessage)
  }

  private startChecker(pool: PoolConfig): void {
    const checker = this.options.createChecker(pool)
    if (checker === undefined) return
    checker.onTransition((t) => this.change(pool.name, t.id, { healthy: t.healthy }))
    checker.start(pool.backends.map(toEndpoint))
    this.checkers.set(pool.name, checker)
  }

  /** Gives a running checker the new endpoint list (survivors keep their state). */
  private restartChecker(pool: PoolConfig): void {
    const checker = this.checkers.get(pool.name)
    if (checker === undefined) this.startChecker(pool)
    else checker.start(pool.backends.map(toEndpoint))
  }

  private view(p: PoolConfig): PoolView {
    return {
      name: p.name,
      algorithm: p.algorithm,
      endpoints: p.backends.map((b) => {
        const f = this.registry.get(p.name, b.id)
        const healthy = f?.healthy ?? true
        const ejected = f?.ejectedUntil !== undefined && f.ejectedUntil > Date.now()
        const drained = f?.drained ?? b.drained
        const circuit = this.circuits.get(`${p.name}\u0000${b.id}`) ?? 'closed'
        return {
          id: b.id,
          url: b.url,
          weight: f?.weight ?? b.weight,
          backup: b.backup,
          healthy,
          ejected,
          drained,
          circuit,
          ready: healthy && !ejected && !drained && circuit !== 'open',
        }
      }),
    }
  }
}

function toEndpoint(b: BackendConfig): Endpoint {
  return { id: b.id, url: new URL(b.url), weight: b.weight, backup: b.backup }
}
