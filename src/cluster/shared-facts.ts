import { LbError } from '../core/index.js'
import type { BackendConfig } from '../config/index.js'
import { StateMirror, type MirrorChange, type StateStore } from '../state/index.js'

/** Operator facts about one endpoint, shared by every instance (key `op:<pool>:<id>`). */
export interface OperatorFact {
  drained?: boolean
  weight?: number
  /** Set when the endpoint was added through the admin API (not in the configuration file). */
  backend?: BackendConfig
  /** Tombstone: removed through the admin API (stores have no delete). */
  removed?: boolean
}

/** Active health of one endpoint as published by the pool's prober (key `health:<pool>:<id>`). */
export interface HealthFact {
  healthy: boolean
  /** Instance that probed. */
  by: string
}

/**
 * The endpoints DNS discovery found for one discovered backend (key `discovered:<pool>:<backend id>`), as
 * published by the instance that resolves for the pool.
 */
export interface DiscoveredFact {
  endpoints: BackendConfig[]
  /** Instance that resolved. */
  by: string
}

/** A fact changed in the store (ours or another instance's). */
export type FactChange =
  | { kind: 'operator'; pool: string; id: string; fact: OperatorFact }
  | { kind: 'health'; pool: string; id: string; fact: HealthFact }
  | { kind: 'discovered'; pool: string; id: string; fact: DiscoveredFact }

type FactKind = FactChange['kind']

/**
 * The endpoint facts every instance shares, kept in the {@link StateStore} and mirrored locally:
 * writes go to the store (and fail whole with LB_ERR_STATE_UNAVAILABLE when it is unreachable);
 * every instance, the writer included, applies them when its mirror sees them. With the memory store
 * this is one instance talking to itself; with Redis, several instances behave as one.
 */
export class SharedFacts {
  private readonly operator: StateMirror<OperatorFact>
  private readonly health: StateMirror<HealthFact>
  private readonly discovered: StateMirror<DiscoveredFact>

  constructor(private readonly store: StateStore) {
    this.operator = new StateMirror<OperatorFact>({ store, prefix: 'op:', resyncIntervalMs: 5000 })
    this.health = new StateMirror<HealthFact>({ store, prefix: 'health:', resyncIntervalMs: 5000 })
    this.discovered = new StateMirror<DiscoveredFact>({ store, prefix: 'discovered:', resyncIntervalMs: 5000 })
  }

  /** Loads both mirrors (resolves false when the store is unreachable: they keep retrying). */
  async start(onChange: (change: FactChange) => void): Promise<void> {
    this.operator.onChange((c) => emit(c, 'operator', onChange))
    this.health.onChange((c) => emit(c, 'health', onChange))
    this.discovered.onChange((c) => emit(c, 'discovered', onChange))
    await Promise.all([this.operator.start(), this.health.start(), this.discovered.start()])
    for (const [key, v] of this.operator.snapshot()) emit({ key, value: v.value, previous: undefined, version: v.version }, 'operator', onChange)
    for (const [key, v] of this.health.snapshot()) emit({ key, value: v.value, previous: undefined, version: v.version }, 'health', onChange)
    for (const [key, v] of this.discovered.snapshot()) emit({ key, value: v.value, previous: undefined, version: v.version }, 'discovered', onChange)
  }

  stop(): void {
    this.operator.stop()
    this.health.stop()
    this.discovered.stop()
  }

  /** Last known operator fact of an endpoint. */
  operatorFact(pool: string, id: string): OperatorFact | undefined {
    return this.operator.get(key('op', pool, id))
  }

  /** Last known discovered set of a backend (as the store has it). */
  discoveredFact(pool: string, id: string): DiscoveredFact | undefined {
    return this.discovered.get(key('discovered', pool, id))
  }

  /** Every known operator fact (for rebuilding a pool's endpoint list). */
  operatorFacts(): Array<{ pool: string; id: string; fact: OperatorFact }> {
    const out: Array<{ pool: string; id: string; fact: OperatorFact }> = []
    for (const [k, v] of this.operator.snapshot()) {
      const parsed = parseKey(k)
      if (parsed !== undefined) out.push({ ...parsed, fact: v.value })
    }
    return out
  }

  /** Merges `patch` into the operator fact of an endpoint. Throws LB_ERR_STATE_UNAVAILABLE when the store is down. */
  async updateOperator(pool: string, id: string, patch: OperatorFact): Promise<void> {
    await this.merge(key('op', pool, id), patch)
  }

  /** Publishes a health result (only the pool's prober calls this). */
  async publishHealth(pool: string, id: string, fact: HealthFact): Promise<void> {
    await this.merge(key('health', pool, id), fact)
  }

  /** Publishes the endpoints a discovered backend resolved to (only the pool's resolving instance calls this). */
  async publishDiscovered(pool: string, id: string, fact: DiscoveredFact): Promise<void> {
    await this.merge(key('discovered', pool, id), fact)
  }

  /** Read-modify-write with compare-and-set, retried on a concurrent writer. */
  private async merge<T extends object>(k: string, patch: T): Promise<void> {
    for (let i = 0; i < 5; i++) {
      let current
      try {
        current = await this.store.get<T>(k)
        // A concurrent writer between get and compareAndSet makes the CAS fail: read again (bounded).
        if (await this.store.compareAndSet(k, current?.version ?? 0, { ...(current?.value ?? {}), ...patch })) return
      } catch (err) {
        throw new LbError('LB_ERR_STATE_UNAVAILABLE', `state store unreachable: the change was not applied (${(err as Error).message})`, { cause: err })
      }
    }
    throw new LbError('LB_ERR_STATE_UNAVAILABLE', `state store busy: ${k} kept changing, the change was not applied`)
  }
}

function key(kind: 'op' | 'health' | 'discovered', pool: string, id: string): string {
  return `${kind}:${pool}:${id}`
}

/** `op:<pool>:<id>` (or `health:`, `discovered:`) -> pool and id (pool names cannot contain ':'; ids can, as in host:port). */
function parseKey(k: string): { pool: string; id: string } | undefined {
  const first = k.indexOf(':')
  const second = k.indexOf(':', first + 1)
  if (first === -1 || second === -1) return undefined
  return { pool: k.slice(first + 1, second), id: k.slice(second + 1) }
}

function emit<T>(c: MirrorChange<T>, kind: FactKind, onChange: (change: FactChange) => void): void {
  if (c.value === undefined) return
  const parsed = parseKey(c.key)
  if (parsed === undefined) return
  onChange({ kind, ...parsed, fact: c.value } as FactChange)
}
