/**
 * A local, synchronous snapshot of every value under one key prefix of a {@link StateStore}: what the request
 * path reads (never the store itself).
 *
 * Kept fresh by three things: `watch` (each notification triggers a `get` of that key), a full `list` on start,
 * on every 'degraded' -> 'up' transition of the store and every `resyncIntervalMs` (notifications can be lost
 * while the store is unreachable). While the store is down the mirror keeps serving its last known values.
 *
 * Ordering: reads (a `get` or a `list`) are numbered when issued, and a key takes the result of a read only if
 * that read was issued after the one that last set it ("latest issued read wins"). Versions are not compared:
 * a Redis restarted without persistence starts its versions again at 1, and the mirror must follow it.
 *
 * Data loss: a key the mirror knows but the store no longer has can only mean the store lost its data (stores
 * have no delete). With `restoreLost` (default) the mirror writes its last value back (compareAndSet with
 * expected version 0: if several instances restore at once, one wins and the others read its value), and keeps
 * serving meanwhile. Without it the key is dropped and a change with `value: undefined` is emitted.
 */
import type { StateStore, Versioned } from './store.js'

/** One change seen by the mirror. `value` undefined: the key is gone (only without `restoreLost`). */
export interface MirrorChange<T> {
  key: string
  value: T | undefined
  previous: T | undefined
  /** Version in the store; 0 when the key is gone. */
  version: number
}

/** Options of {@link StateMirror}. */
export interface StateMirrorOptions {
  store: StateStore
  /** Key prefix to mirror ('' for everything). */
  prefix: string
  /** Full resynchronisation period, ms; default 5 000. */
  resyncIntervalMs?: number
  /** Delay before retrying a failed resynchronisation, ms; default 1 000. */
  retryIntervalMs?: number
  /** Write known values back when the store lost them; default true. */
  restoreLost?: boolean
}

interface Entry<T> {
  value: T
  version: number
  json: string
}

/** Synchronous read view of a key prefix. Call `start()` once, `stop()` at shutdown. */
export class StateMirror<T> {
  private readonly store: StateStore
  private readonly prefix: string
  private readonly entries = new Map<string, Entry<T>>()
  /** Ticket of the read that last set each key (kept for keys that are gone). */
  private readonly applied = new Map<string, number>()
  private readonly listeners = new Set<(change: MirrorChange<T>) => void>()
  private readonly options: Required<Omit<StateMirrorOptions, 'store' | 'prefix'>>
  private tickets = 0
  private inFlight: Promise<boolean> | undefined
  private again = false
  private loadedOnce = false
  private lastSync = 0
  private stopped = false
  private offWatch: (() => void) | undefined
  private offStatus: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined
  private retry: NodeJS.Timeout | undefined

  constructor(options: StateMirrorOptions) {
    this.store = options.store
    this.prefix = options.prefix
    this.options = {
      resyncIntervalMs: options.resyncIntervalMs ?? 5_000,
      retryIntervalMs: options.retryIntervalMs ?? 1_000,
      restoreLost: options.restoreLost ?? true,
    }
  }

  /**
   * Subscribes and loads the snapshot. Resolves true when the first load succeeded, false when the store was
   * unreachable (the mirror keeps retrying and serves nothing, or what it had, meanwhile). Never rejects.
   */
  start(): Promise<boolean> {
    if (this.offWatch === undefined && !this.stopped) {
      this.offWatch = this.store.watch(this.prefix, (key) => this.refresh(key))
      this.offStatus = this.store.onStatus((s) => {
        if (s === 'up') void this.resync()
      })
      this.timer = setInterval(() => void this.resync(), this.options.resyncIntervalMs)
      this.timer.unref()
    }
    return this.resync()
  }

  /** Current value of `key`, synchronous; undefined when unknown. */
  get(key: string): T | undefined {
    return this.entries.get(key)?.value
  }

  /** Current value and version of `key`. */
  getVersioned(key: string): Versioned<T> | undefined {
    const e = this.entries.get(key)
    return e === undefined ? undefined : { value: e.value, version: e.version }
  }

  /** Every known key with its value and version (a copy). */
  snapshot(): Map<string, Versioned<T>> {
    return new Map([...this.entries].map(([k, e]) => [k, { value: e.value, version: e.version }]))
  }

  /** Number of keys known. */
  get size(): number {
    return this.entries.size
  }

  /** True once a full load has succeeded. */
  get loaded(): boolean {
    return this.loadedOnce
  }

  /** Wall-clock ms (Date.now) of the last successful full resynchronisation; 0 before the first. */
  get lastSyncAt(): number {
    return this.lastSync
  }

  /** Calls `listener` after each change of a value (not for a version-only change). Returns unsubscribe. */
  onChange(listener: (change: MirrorChange<T>) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /**
   * Full resynchronisation now. Resolves true on success, false when the store was unreachable (a retry is
   * scheduled). Concurrent calls share one run; a call during a run schedules one more run after it.
   */
  resync(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false)
    if (this.inFlight !== undefined) {
      this.again = true
      return this.inFlight
    }
    const run = async (): Promise<boolean> => {
      let ok = false
      do {
        this.again = false
        ok = await this.loadAll()
      } while (this.again && ok && !this.stopped)
      return ok
    }
    this.inFlight = run().finally(() => {
      this.inFlight = undefined
    })
    return this.inFlight
  }

  /** Unsubscribes and stops the timers. The last values stay readable. */
  stop(): void {
    this.stopped = true
    this.offWatch?.()
    this.offStatus?.()
    if (this.timer !== undefined) clearInterval(this.timer)
    if (this.retry !== undefined) clearTimeout(this.retry)
  }

  private async loadAll(): Promise<boolean> {
    const ticket = ++this.tickets
    let listed: Map<string, Versioned<T>>
    try {
      listed = await this.store.list<T>(this.prefix)
    } catch {
      this.scheduleRetry()
      return false
    }
    if (this.stopped) return false
    for (const [key, v] of listed) this.apply(key, v, ticket)
    for (const key of [...this.entries.keys()]) if (!listed.has(key)) this.apply(key, undefined, ticket)
    this.loadedOnce = true
    this.lastSync = Date.now()
    return true
  }

  private refresh(key: string): void {
    if (this.stopped) return
    const ticket = ++this.tickets
    // A failed get is not retried here: the store turns 'degraded', and its return to 'up' resyncs everything.
    this.store.get<T>(key).then(
      (v) => this.apply(key, v, ticket),
      () => {},
    )
  }

  private apply(key: string, v: Versioned<T> | undefined, ticket: number): void {
    if (this.stopped || ticket <= (this.applied.get(key) ?? 0)) return
    this.applied.set(key, ticket)
    const old = this.entries.get(key)
    if (v === undefined) {
      if (old === undefined) return
      if (this.options.restoreLost) {
        // The store lost the key (no persistence, flushed): put our last value back, keep serving it.
        this.store.compareAndSet(key, 0, old.value).catch(() => {})
        return
      }
      this.entries.delete(key)
      this.emit({ key, value: undefined, previous: old.value, version: 0 })
      return
    }
    const json = JSON.stringify(v.value)
    this.entries.set(key, { value: v.value, version: v.version, json })
    if (old === undefined || old.json !== json) this.emit({ key, value: v.value, previous: old?.value, version: v.version })
  }

  private emit(change: MirrorChange<T>): void {
    for (const l of [...this.listeners]) l(change)
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retry !== undefined) return
    this.retry = setTimeout(() => {
      this.retry = undefined
      void this.resync()
    }, this.options.retryIntervalMs)
    this.retry.unref()
  }
}
