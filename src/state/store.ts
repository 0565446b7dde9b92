/**
 * The shared-state contract of the balancer. Two implementations: `MemoryStore` (scope
 * 'instance': the primary holds it, its workers reach it through the primary's IPC) and `RedisStore` (scope
 * 'global': every instance on every host shares it). One conformance suite (`store.suite.ts`) runs on both.
 *
 * Nothing on the request path awaits a store: readers use a {@link StateMirror} (a synchronous snapshot), round
 * robin uses a {@link SequenceLeaser}, rate limits a {@link BatchedCounter}.
 */
import { LbError } from '../core/index.js'

/** A value and its version. Versions start at 1 for a new key and grow by exactly 1 per successful write. */
export interface Versioned<T> {
  readonly value: T
  readonly version: number
}

/** 'up': the backend answers. 'degraded': it does not (calls reject); mirrors serve their last known values. */
export type StoreStatus = 'up' | 'degraded'

/**
 * A small versioned key-value store with counters, leases and change notification.
 *
 * Edges shared by every implementation:
 * - Store down: every call rejects with `LbError` `LB_ERR_STATE_UNAVAILABLE`, never hangs: each call has a
 *   timeout (the Redis `commandTimeoutMs`, 500 ms by default) and fails fast while disconnected.
 * - After `close()` every call rejects with `LB_ERR_STATE_UNAVAILABLE`.
 * - Values are JSON (what `JSON.stringify` keeps); `get` returns a fresh copy, never the stored object.
 * - Three separate namespaces: versioned values (`get`/`compareAndSet`/`list`), counters (`incrementBy`) and
 *   leases. The same key in two namespaces names two different things.
 * - There is no delete: versions must never go back, so a removed thing is written as a tombstone value.
 */
export interface StateStore {
  /** 'instance': workers of one process tree share it (memory); 'global': every instance shares it (Redis). */
  readonly scope: 'instance' | 'global'

  /** The value of `key` and its version, or undefined when the key was never written. */
  get<T>(key: string): Promise<Versioned<T> | undefined>

  /**
   * Writes `value` only if the key's current version is `expectedVersion` (0 = the key must not exist).
   * Atomic: of several concurrent calls with the same expected version exactly one returns true.
   * On success the new version is `expectedVersion + 1` and watchers of a matching prefix are told (on every
   * store instance sharing the backend). Returns false when the version did not match.
   * A call that rejected on a timeout may still have been applied (a frozen server answering late): re-read
   * (`get`) before retrying; the version tells.
   */
  compareAndSet<T>(key: string, expectedVersion: number, value: T): Promise<boolean>

  /**
   * Adds `n` (an integer, may be negative) to the counter `key` and returns the new total. A missing or expired
   * counter starts at 0. `ttlMs > 0`: the counter expires `ttlMs` after the increment that created it (a fixed
   * window; later increments do not extend it). `ttlMs <= 0`: it never expires. Counters do not notify watchers.
   */
  incrementBy(key: string, n: number, ttlMs: number): Promise<number>

  /**
   * Calls `listener(key)` after each successful `compareAndSet` of a key starting with `prefix`, from any store
   * instance on the same backend. Asynchronous (never inside the writer's call). Notifications may be lost while
   * the store is degraded: resynchronise with `list` when {@link onStatus} reports 'up' (StateMirror does).
   * Returns an unsubscribe function.
   */
  watch(prefix: string, listener: (key: string) => void): () => void

  /** Every versioned value whose key starts with `prefix` (for a full resynchronisation). */
  list<T>(prefix: string): Promise<Map<string, Versioned<T>>>

  /**
   * Takes the lease `name` for `holderId` for `ttlMs` if it is free or expired, or already held by `holderId`
   * (then it is renewed). Returns true when `holderId` holds it afterwards. Leases expire on their own: a
   * holder that dies is replaced after at most `ttlMs`.
   */
  acquireLease(name: string, holderId: string, ttlMs: number): Promise<boolean>

  /** Extends the lease to `ttlMs` from now only if `holderId` still holds it; false when it was lost. */
  renewLease(name: string, holderId: string, ttlMs: number): Promise<boolean>

  /** Frees the lease only if `holderId` holds it; false otherwise (nothing changes). */
  releaseLease(name: string, holderId: string): Promise<boolean>

  /** Current status, synchronous. A new Redis store is 'degraded' until its first connection is ready. */
  health(): StoreStatus

  /** Calls `listener` on every status change ('up' after 'degraded' means: resynchronise). Returns unsubscribe. */
  onStatus(listener: (status: StoreStatus) => void): () => void

  /** Closes connections and timers. Idempotent. Pending calls reject with `LB_ERR_STATE_UNAVAILABLE`. */
  close(): Promise<void>
}

/** The error every store call rejects with when the backend cannot answer (down, timed out, closed). */
export function stateUnavailable(detail: string, cause?: unknown): LbError {
  return new LbError('LB_ERR_STATE_UNAVAILABLE', `state store unreachable: ${detail}`, cause === undefined ? undefined : { cause })
}

/**
 * Resolves true once `store.health()` is 'up', or false after `timeoutMs` (default 5 000 ms). Never rejects.
 * For start-up and tests; the request path never waits for the store.
 */
export function whenUp(store: StateStore, timeoutMs = 5_000): Promise<boolean> {
  if (store.health() === 'up') return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      off()
      resolve(false)
    }, timeoutMs)
    const off = store.onStatus((s) => {
      if (s !== 'up') return
      clearTimeout(timer)
      off()
      resolve(true)
    })
  })
}

/** Serialises a value for storage; rejects values JSON cannot represent (undefined, functions, symbols). */
export function encodeValue(value: unknown): string {
  const json = JSON.stringify(value)
  if (json === undefined) throw new TypeError('state store values must be JSON-serialisable')
  return json
}
