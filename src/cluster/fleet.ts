import type { Worker } from 'node:cluster'
import { drainChannel, type Endpoint } from '../core/index.js'
import type { BackendConfig, LbConfig, PoolConfig } from '../config/index.js'
import type { StateStore } from '../state/index.js'
import { withoutDiscovered, type HealthChecker } from '../upstream/index.js'
import { DnsCoordinator } from './dns-coordinator.js'
import { poolView, type EndpointView, type PoolView } from './pool-view.js'
import { EndpointRegistry } from './endpoint-registry.js'
import type { EndpointChange, PrimaryMessage, WorkerMessage } from './ipc.js'
import type { WorkerSupervisor } from './primary.js'
import { ProberElection } from './prober-election.js'
import { SharedFacts, type FactChange } from './shared-facts.js'

/** Options of {@link Fleet}. */
export interface FleetOptions {
  config: LbConfig
  supervisor: WorkerSupervisor
  /** Where operator changes and health results are shared (memory: this instance; Redis: all). */
  store: StateStore
  /** This instance's id (lease holder id, health publisher). */
  instanceId: string
  /** Builds the active checker of a pool, or undefined when its checks are disabled. */
  createChecker: (pool: PoolConfig) => HealthChecker | undefined
  /** Prober lease time, ms (default 3000): how fast another instance takes over a dead prober. */
  proberLeaseMs?: number
  log?: (line: string) => void
}

/**
 * The primary's control of the endpoints every worker serves. Operator changes (drain, enable,
 * weight, add, remove) and health results go through the shared store, and every instance applies
 * what its mirror of the store sees, so several instances behave as one. Active checks run once per
 * pool across all instances (an elected prober; each instance for itself while the store is down).
 * Passive ejections are relayed between this instance's workers. The registry brings replacement
 * workers up to date.
 */
export class Fleet {
  readonly registry = new EndpointRegistry()
  private config: LbConfig
  private readonly facts: SharedFacts
  private readonly checkers = new Map<string, HealthChecker>()
  private readonly elections = new Map<string, ProberElection>()
  private readonly circuits = new Map<string, EndpointView['circuit']>()
  private readonly dns: DnsCoordinator
  /** The configuration as loaded: discovered backends are templates here (DNS discovery reads them). */
  private loaded: LbConfig

  constructor(private readonly options: FleetOptions) {
    this.loaded = structuredClone(options.config)
    // Backends named by DNS are not served as written: their endpoints arrive as the names resolve.
    this.config = withoutDiscovered(structuredClone(options.config))
    options.supervisor.setConfig(this.config)
    this.facts = new SharedFacts(options.store)
    this.dns = new DnsCoordinator({
      store: options.store,
      facts: this.facts,
      instanceId: options.instanceId,
      leaseMs: options.proberLeaseMs,
      log: options.log,
      apply: (pool, add, remove) => this.updateEndpoints(pool, add, remove),
    })
  }

  /** Loads the shared facts, then starts one prober election per pool and the DNS discovery. */
  async start(): Promise<void> {
    await this.dns.configure(this.loaded)
    await this.facts.start((change) => this.applyFact(change))
    for (const pool of Object.values(this.config.pools)) this.startElection(pool)
  }

  /** Stops probing, resolving and mirroring. */
  async stop(): Promise<void> {
    await this.dns.stop()
    await Promise.all([...this.elections.values()].map((e) => e.stop()))
    this.elections.clear()
    await Promise.all([...this.checkers.values()].map((c) => c.stop()))
    this.checkers.clear()
    this.facts.stop()
  }

  /** The configuration as currently applied (endpoints added or removed at run time included). */
  currentConfig(): LbConfig {
    return this.config
  }

  /** Handles a worker's report (wired to the supervisor's onMessage). */
  onWorkerMessage(worker: Worker, msg: WorkerMessage): void {
    if (msg.type === 'lb:ejection') {
      const change: EndpointChange = { ejected: msg.ejected, durationMs: msg.durationMs }
      this.registry.apply(msg.pool, msg.id, change)
      this.options.supervisor.broadcast({ type: 'lb:endpoint', pool: msg.pool, id: msg.id, change }, worker)
    } else if (msg.type === 'lb:circuit') {
      this.circuits.set(`${msg.pool}\u0000${msg.id}`, msg.state)
    } else if (msg.type === 'lb:incr') {
      const reply = (r: { value?: number; error?: string }): void => {
        if (worker.isConnected()) worker.send({ type: 'lb:incr-result', id: msg.id, ...r } satisfies PrimaryMessage)
      }
      this.options.store.incrementBy(msg.key, msg.n, msg.ttlMs).then(
        (value) => reply({ value }),
        (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
      )
    }
  }

  /** Every pool with its endpoints' shared state. */
  pools(): PoolView[] {
    return Object.values(this.config.pools).map((p) => poolView(p, this.registry, this.circuits))
  }

  /** One pool, or undefined. */
  pool(name: string): PoolView | undefined {
    const p = this.config.pools[name]
    return p === undefined ? undefined : poolView(p, this.registry, this.circuits)
  }

  /**
   * Operator drain (true) or enable (false), on every instance. Resolves false for an unknown pool or
   * endpoint; rejects with LB_ERR_STATE_UNAVAILABLE (nothing applied) when the store is unreachable.
   */
  async setDrained(pool: string, id: string, drained: boolean): Promise<boolean> {
    if (!this.has(pool, id)) return false
    await this.facts.updateOperator(pool, id, { drained })
    return true
  }

  /** Operator re-weight, on every instance. */
  async setWeight(pool: string, id: string, weight: number): Promise<boolean> {
    if (!this.has(pool, id)) return false
    await this.facts.updateOperator(pool, id, { weight })
    return true
  }

  /** Adds an endpoint to a pool on every instance; false when the pool is unknown or the id taken. */
  async addEndpoint(pool: string, backend: BackendConfig): Promise<boolean> {
    if (this.config.pools[pool] === undefined || this.has(pool, backend.id)) return false
    await this.facts.updateOperator(pool, backend.id, { backend, removed: false, drained: backend.drained, weight: backend.weight })
    return true
  }

  /** Removes an endpoint from a pool on every instance (in-flight requests finish). */
  async removeEndpoint(pool: string, id: string): Promise<boolean> {
    if (!this.has(pool, id)) return false
    await this.facts.updateOperator(pool, id, { removed: true })
    return true
  }

  /**
   * Applies a reloaded configuration: workers rebuild their routes and pools (unchanged pools keep
   * their connections and state), probers follow the new endpoint lists, and the shared facts of
   * endpoints that still exist (health, operator drain and weight, ejections) are replayed.
   */
  async reload(config: LbConfig): Promise<void> {
    const previous = this.config
    this.loaded = structuredClone(config)
    this.config = withoutDiscovered(structuredClone(config))
    // Endpoints discovered for backends the new configuration keeps as they were stay (no re-resolve gap).
    await this.dns.configure(this.loaded)
    for (const p of Object.values(this.config.pools)) p.backends.push(...this.dns.endpointsOf(p.name).filter((e) => !p.backends.some((b) => b.id === e.id)))
    for (const { pool, id, fact } of this.facts.operatorFacts()) {
      const p = this.config.pools[pool]
      if (p !== undefined && fact.backend !== undefined && fact.removed !== true && !p.backends.some((b) => b.id === id)) p.backends.push(fact.backend)
      if (p !== undefined && fact.removed === true) p.backends = p.backends.filter((b) => b.id !== id)
    }
    const supervisor = this.options.supervisor
    supervisor.setConfig(this.config)
    for (const [name, election] of this.elections) {
      if (this.config.pools[name] !== undefined && JSON.stringify(this.config.pools[name]?.healthCheck) === JSON.stringify(previous.pools[name]?.healthCheck)) continue
      this.elections.delete(name)
      await election.stop()
      await this.stopChecker(name)
    }
    for (const pool of Object.values(previous.pools)) {
      for (const b of pool.backends) if (!this.has(pool.name, b.id)) this.registry.forget(pool.name, b.id)
    }
    supervisor.broadcast({ type: 'lb:reload', config: this.config })
    for (const m of this.registry.replay()) supervisor.broadcast(m)
    for (const pool of Object.values(this.config.pools)) {
      if (!this.elections.has(pool.name)) this.startElection(pool)
      else this.checkers.get(pool.name)?.start(pool.backends.map(toEndpoint))
    }
  }

  /** Applies a fact seen in the store (written by this instance or another). */
  private applyFact(change: FactChange): void {
    const { pool, id } = change
    const p = this.config.pools[pool]
    if (p === undefined) return
    if (change.kind === 'health') {
      if (this.has(pool, id)) this.change(pool, id, { healthy: change.fact.healthy })
      return
    }
    if (change.kind === 'discovered') {
      this.dns.onFact(pool, id, change.fact)
      return
    }
    const fact = change.fact
    const present = this.has(pool, id)
    if (fact.removed === true) {
      if (present) this.updateEndpoints(pool, [], [id])
      return
    }
    if (!present && fact.backend !== undefined) this.updateEndpoints(pool, [fact.backend], [])
    if (fact.drained !== undefined && this.registry.get(pool, id)?.drained !== fact.drained) {
      this.change(pool, id, { drained: fact.drained })
      if (drainChannel.hasSubscribers) drainChannel.publish({ pool, endpoint: id, draining: fact.drained })
    }
    if (fact.weight !== undefined && this.registry.get(pool, id)?.weight !== fact.weight) {
      p.backends = p.backends.map((b) => (b.id === id ? { ...b, weight: fact.weight as number } : b))
      this.change(pool, id, { weight: fact.weight })
    }
  }

  /**
   * Adds and removes endpoints of a pool on this instance (admin API, DNS discovery): workers add them
   * (slow start applies) or stop picking them (in-flight requests finish), the prober follows.
   */
  private updateEndpoints(pool: string, add: readonly BackendConfig[], remove: readonly string[]): void {
    const p = this.config.pools[pool]
    if (p === undefined) return
    const added = add.filter((b) => !this.has(pool, b.id))
    const removed = remove.filter((id) => this.has(pool, id))
    if (added.length === 0 && removed.length === 0) return
    p.backends = [...p.backends.filter((b) => !removed.includes(b.id)), ...added]
    for (const id of removed) this.registry.forget(pool, id)
    this.options.supervisor.setConfig(this.config)
    this.options.supervisor.broadcast({ type: 'lb:endpoints', pool, ...(added.length > 0 ? { add: added } : {}), ...(removed.length > 0 ? { remove: removed } : {}) })
    this.checkers.get(pool)?.start(p.backends.map(toEndpoint))
  }

  private has(pool: string, id: string): boolean {
    return this.config.pools[pool]?.backends.some((b) => b.id === id) ?? false
  }

  /** Records a change and tells every worker, unless it is already known. */
  private change(pool: string, id: string, change: EndpointChange): void {
    const known = this.registry.get(pool, id)
    if ('healthy' in change && known?.healthy === change.healthy) return
    this.registry.apply(pool, id, change)
    this.options.supervisor.broadcast({ type: 'lb:endpoint', pool, id, change } satisfies PrimaryMessage)
  }

  private startElection(pool: PoolConfig): void {
    if (!pool.healthCheck.enabled) return
    const election = new ProberElection(
      this.options.store,
      `probe:${pool.name}`,
      this.options.instanceId,
      (probing) => {
        this.options.log?.(`health checks of pool ${pool.name}: ${probing ? 'probing here' : 'another instance probes'}`)
        if (probing) this.startChecker(pool.name)
        else void this.stopChecker(pool.name)
      },
      this.options.proberLeaseMs,
    )
    this.elections.set(pool.name, election)
    election.start()
  }

  private startChecker(name: string): void {
    const pool = this.config.pools[name]
    if (pool === undefined || this.checkers.has(name)) return
    const checker = this.options.createChecker(pool)
    if (checker === undefined) return
    checker.onTransition((t) => {
      // Apply here at once; publish for the other instances (their mirrors apply it).
      this.change(name, t.id, { healthy: t.healthy })
      this.facts.publishHealth(name, t.id, { healthy: t.healthy, by: this.options.instanceId }).catch(() => undefined)
    })
    checker.start(pool.backends.map(toEndpoint))
    this.checkers.set(name, checker)
  }

  private async stopChecker(name: string): Promise<void> {
    const checker = this.checkers.get(name)
    if (checker === undefined) return
    this.checkers.delete(name)
    await checker.stop()
  }
}

function toEndpoint(b: BackendConfig): Endpoint {
  return { id: b.id, url: new URL(b.url), weight: b.weight, backup: b.backup, serverName: b.serverName }
}
