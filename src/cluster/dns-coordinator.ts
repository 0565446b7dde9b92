import type { BackendConfig, LbConfig, PoolConfig } from '../config/index.js'
import type { StateStore } from '../state/index.js'
import { PoolDiscovery, discoveryTargets, poolTargets, type DiscoveryUpdate } from '../upstream/index.js'
import { ProberElection } from './prober-election.js'
import type { DiscoveredFact, SharedFacts } from './shared-facts.js'

/** Options of {@link DnsCoordinator}. */
export interface DnsCoordinatorOptions {
  store: StateStore
  facts: SharedFacts
  /** This instance's id (lease holder, publisher of what it resolved). */
  instanceId: string
  /** Applies a change of a pool's discovered endpoints to this instance (its fleet and workers). */
  apply: (pool: string, add: readonly BackendConfig[], remove: readonly string[]) => void
  /** Resolver lease time, ms (default 3000): how fast another instance takes over a dead resolver. */
  leaseMs?: number
  log?: (line: string) => void
  /** Builds a pool's discovery (tests inject a lookup); default: `node:dns`. */
  createDiscovery?: (pool: PoolConfig, onUpdate: (u: DiscoveryUpdate) => void) => PoolDiscovery
}

interface PoolRun {
  /** What the run depends on (targets, refresh, resolvers): a reload that changes it restarts the run. */
  signature: string
  election: ProberElection
  discovery: PoolDiscovery
}

/**
 * DNS discovery across instances. Per pool with discovered backends, one instance (elected with a store
 * lease, as the health prober is) resolves the names and publishes each backend's endpoints in the
 * store (`discovered:<pool>:<id>`); every instance applies what its mirror of the store sees, so all
 * balance over the same endpoints. The resolving instance applies its own results at once (and ignores
 * their echo). While the store is unreachable every instance resolves for itself.
 */
export class DnsCoordinator {
  private readonly runs = new Map<string, PoolRun>()
  /** Endpoints applied per discovered backend (`pool\0id`). */
  private readonly sets = new Map<string, BackendConfig[]>()
  /** Template of every discovered backend of the current configuration (`pool\0id` -> JSON). */
  private templates = new Map<string, string>()

  constructor(private readonly options: DnsCoordinatorOptions) {}

  /**
   * Follows a configuration (at start and on reload): pools whose discovered backends or DNS settings
   * changed restart their election and discovery. A backend that is gone, or whose url changed, loses
   * its set (resolved again); one whose weight, backup or drained flag changed keeps its endpoints with
   * the new values, so that no instance is left without them until the next answer.
   */
  async configure(config: LbConfig): Promise<void> {
    const templates = new Map<string, string>()
    for (const t of discoveryTargets(config)) templates.set(`${t.pool}\u0000${t.id}`, JSON.stringify(t.template))
    for (const [k, json] of this.templates) {
      const next = templates.get(k)
      if (next === json) continue
      const kept = this.sets.get(k)
      this.sets.delete(k)
      if (next === undefined || kept === undefined) continue
      const before = JSON.parse(json) as BackendConfig
      const after = JSON.parse(next) as BackendConfig
      if (before.url !== after.url) continue
      // SRV records carry their own weights; names take the backend's.
      const srv = after.url.startsWith('srv+')
      this.sets.set(k, kept.map((e) => ({ ...e, weight: srv ? e.weight : after.weight, backup: after.backup, drained: after.drained })))
    }
    this.templates = templates
    const wanted = new Map<string, PoolConfig>()
    for (const pool of Object.values(config.pools)) if (poolTargets(pool).length > 0) wanted.set(pool.name, pool)
    for (const [name, run] of this.runs) {
      const pool = wanted.get(name)
      if (pool !== undefined && signatureOf(pool) === run.signature) continue
      this.runs.delete(name)
      run.discovery.stop()
      await run.election.stop()
    }
    for (const pool of wanted.values()) if (!this.runs.has(pool.name)) this.startRun(pool)
  }

  /** The endpoints discovered so far for one pool (to put back into a reloaded configuration). */
  endpointsOf(pool: string): BackendConfig[] {
    const out: BackendConfig[] = []
    for (const [k, list] of this.sets) if (k.startsWith(`${pool}\u0000`)) out.push(...list)
    return out
  }

  /** A discovered set seen in the store (published by this instance or another). */
  onFact(pool: string, id: string, fact: DiscoveredFact): void {
    if (fact.by === this.options.instanceId) return // applied when it was resolved
    this.update(pool, id, fact.endpoints)
  }

  /** Stops resolving (releases the leases). */
  async stop(): Promise<void> {
    const runs = [...this.runs.values()]
    this.runs.clear()
    for (const r of runs) r.discovery.stop()
    await Promise.all(runs.map((r) => r.election.stop()))
  }

  private startRun(pool: PoolConfig): void {
    const onUpdate = (u: DiscoveryUpdate): void => {
      this.update(pool.name, u.target.id, u.endpoints)
      // The other instances apply it from their mirrors; when the store is down each resolves for itself.
      // Written on a change, and whenever the store holds something else (a write that failed while it
      // was down, a Redis restarted empty): an instance started later must find the set in use.
      const stored = this.options.facts.discoveredFact(pool.name, u.target.id)
      if (!u.changed && stored !== undefined && JSON.stringify(stored.endpoints) === JSON.stringify(u.endpoints)) return
      this.options.facts.publishDiscovered(pool.name, u.target.id, { endpoints: u.endpoints, by: this.options.instanceId }).catch(() => undefined)
    }
    const discovery = this.options.createDiscovery?.(pool, onUpdate) ?? new PoolDiscovery({ pool, onUpdate })
    const election = new ProberElection(
      this.options.store,
      `resolve:${pool.name}`,
      this.options.instanceId,
      (resolving) => {
        this.options.log?.(`DNS discovery of pool ${pool.name}: ${resolving ? 'resolving here' : 'another instance resolves'}`)
        if (resolving) discovery.start()
        else discovery.stop()
      },
      this.options.leaseMs,
    )
    this.runs.set(pool.name, { signature: signatureOf(pool), election, discovery })
    election.start()
  }

  /** Replaces one discovered backend's endpoints and applies the difference. */
  private update(pool: string, id: string, endpoints: readonly BackendConfig[]): void {
    const k = `${pool}\u0000${id}`
    if (!this.templates.has(k)) return // not (or no longer) a discovered backend of this configuration
    const before = this.sets.get(k) ?? []
    const next = new Set(endpoints.map((e) => e.id))
    const known = new Set(before.map((e) => e.id))
    this.sets.set(k, [...endpoints])
    const add = endpoints.filter((e) => !known.has(e.id))
    const remove = before.filter((e) => !next.has(e.id)).map((e) => e.id)
    if (add.length > 0 || remove.length > 0) this.options.apply(pool, add, remove)
  }
}

function signatureOf(pool: PoolConfig): string {
  return JSON.stringify({ templates: poolTargets(pool).map((t) => t.template), refresh: pool.dnsRefreshMs, resolvers: pool.dnsResolvers })
}
