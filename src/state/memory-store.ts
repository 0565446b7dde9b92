/**
 * In-process {@link StateStore} (scope 'instance'). The primary process holds one; its workers never call it
 * directly but reach it through the primary's IPC. Every operation is synchronous underneath, so there is
 * nothing to time out; the promises only keep the contract of the Redis store.
 *
 * Several handles can share one backend (`attach()`), as several Redis clients share one server: that is
 * how the conformance suite checks that watchers see writes from "another store instance".
 */
import { systemClock, type Clock } from '../core/index.js'
import { encodeValue, stateUnavailable, type StateStore, type StoreStatus, type Versioned } from './store.js'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Time source for counter TTLs and lease expiry; default the monotonic system clock. */
  clock?: Clock
}

/** The data several {@link MemoryStore} handles share (see `attach()`); opaque to callers. */
export interface MemoryBackend {
  readonly clock: Clock
  readonly values: Map<string, { version: number; json: string }>
  readonly counters: Map<string, { n: number; expiresAt: number }>
  readonly leases: Map<string, { holder: string; expiresAt: number }>
  readonly watchers: Set<{ prefix: string; listener: (key: string) => void }>
}

/** A handle on an in-memory backend. Status is always 'up' until closed. */
export class MemoryStore implements StateStore {
  readonly scope = 'instance' as const
  private readonly backend: MemoryBackend
  private readonly own = new Set<{ prefix: string; listener: (key: string) => void }>()
  private closed = false

  /** `backend` is for `attach()`; callers pass only options. */
  constructor(options: MemoryStoreOptions = {}, backend?: MemoryBackend) {
    this.backend = backend ?? {
      clock: options.clock ?? systemClock,
      values: new Map(),
      counters: new Map(),
      leases: new Map(),
      watchers: new Set(),
    }
  }

  /** Another handle on the same data (its own watchers; closing it leaves the data and other handles alone). */
  attach(): MemoryStore {
    return new MemoryStore({}, this.backend)
  }

  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    this.check()
    const e = this.backend.values.get(key)
    return e === undefined ? undefined : { value: JSON.parse(e.json) as T, version: e.version }
  }

  async compareAndSet<T>(key: string, expectedVersion: number, value: T): Promise<boolean> {
    this.check()
    const json = encodeValue(value)
    const current = this.backend.values.get(key)?.version ?? 0
    if (current !== expectedVersion) return false
    this.backend.values.set(key, { version: current + 1, json })
    // Watchers run after a microtask, never inside the writer's call (as with Redis pub/sub).
    const targets = [...this.backend.watchers].filter((w) => key.startsWith(w.prefix))
    if (targets.length > 0) {
      queueMicrotask(() => {
        for (const w of targets) if (this.backend.watchers.has(w)) w.listener(key)
      })
    }
    return true
  }

  async incrementBy(key: string, n: number, ttlMs: number): Promise<number> {
    this.check()
    const now = this.backend.clock.now()
    let c = this.backend.counters.get(key)
    if (c === undefined || c.expiresAt <= now) {
      c = { n: 0, expiresAt: ttlMs > 0 ? now + ttlMs : Infinity }
      this.backend.counters.set(key, c)
    }
    c.n += n
    return c.n
  }

  watch(prefix: string, listener: (key: string) => void): () => void {
    const w = { prefix, listener }
    if (this.closed) return () => {}
    this.own.add(w)
    this.backend.watchers.add(w)
    return () => {
      this.own.delete(w)
      this.backend.watchers.delete(w)
    }
  }

  async list<T>(prefix: string): Promise<Map<string, Versioned<T>>> {
    this.check()
    const out = new Map<string, Versioned<T>>()
    for (const [key, e] of this.backend.values) {
      if (key.startsWith(prefix)) out.set(key, { value: JSON.parse(e.json) as T, version: e.version })
    }
    return out
  }

  async acquireLease(name: string, holderId: string, ttlMs: number): Promise<boolean> {
    this.check()
    const now = this.backend.clock.now()
    const l = this.backend.leases.get(name)
    if (l !== undefined && l.expiresAt > now && l.holder !== holderId) return false
    this.backend.leases.set(name, { holder: holderId, expiresAt: now + ttlMs })
    return true
  }

  async renewLease(name: string, holderId: string, ttlMs: number): Promise<boolean> {
    this.check()
    const now = this.backend.clock.now()
    const l = this.backend.leases.get(name)
    if (l === undefined || l.expiresAt <= now || l.holder !== holderId) return false
    l.expiresAt = now + ttlMs
    return true
  }

  async releaseLease(name: string, holderId: string): Promise<boolean> {
    this.check()
    const l = this.backend.leases.get(name)
    if (l === undefined || l.expiresAt <= this.backend.clock.now() || l.holder !== holderId) return false
    this.backend.leases.delete(name)
    return true
  }

  health(): StoreStatus {
    return this.closed ? 'degraded' : 'up'
  }

  /** Memory never changes status except on close (which is not reported). */
  onStatus(_listener: (status: StoreStatus) => void): () => void {
    return () => {}
  }

  async close(): Promise<void> {
    this.closed = true
    for (const w of this.own) this.backend.watchers.delete(w)
    this.own.clear()
  }

  private check(): void {
    if (this.closed) throw stateUnavailable('store closed')
  }
}
