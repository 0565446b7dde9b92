/**
 * Passive health checks (outlier detection), per pool and per worker: real traffic results eject an
 * endpoint after `consecutiveFailures` failures in a row, for a time that doubles on every repeat.
 * Modelled on Envoy's outlier detection (consecutive_5xx / consecutive_gateway_failure, ejection time
 * `base * times ejected`, `max_ejection_percent`), with Envoy's rule that at least one endpoint may be
 * ejected whatever the percentage.
 *
 * Rules, all on the injected clock (ms):
 * - Every failure kind counts the same; a success resets the count. Results for an ejected endpoint
 *   (requests already in flight when it was ejected) are ignored.
 * - Ejection time: `min(baseEjectionMs * 2^(timesEjected - 1), max(maxEjectionMs, baseEjectionMs))`,
 *   then up to +10 % jitter, so workers that ejected together do not return together.
 * - Cap: {@link maxEjectedCount}. When the cap is reached, an endpoint over the threshold stays in and
 *   keeps counting; its next failure after a slot frees ejects it.
 * - Expiry: the endpoint returns, its failure count restarts at 0, listeners hear `ejected: false`.
 * - Decay: `timesEjected` drops by one for every full `decayMs` (default `baseEjectionMs`) the endpoint
 *   spent back in the pool; computed when it is next ejected.
 */
import type { Clock, EjectionEvent } from '../../core/index.js'
import { ejectionChannel, systemClock, systemRandom } from '../../core/index.js'
import type { OutlierDetectionConfig } from '../../config/index.js'

/** What went wrong with one request, as passive checks see it. */
export type OutlierFailureKind = 'connect' | 'reset' | 'timeout' | '5xx'

/** An endpoint was ejected or came back. */
export interface EjectionChange {
  id: string
  ejected: boolean
  /** `5 consecutive failures (last: connect)`, `ejection expired`, or a remote/operator reason. */
  reason: string
  /** Clock ms when the ejection ends (only when `ejected`). Local clock: never send it to another process. */
  untilMs?: number
  /** Ejection length in ms from now (only when `ejected`): what to send to other workers. */
  durationMs?: number
  /** 'remote' for changes applied with {@link OutlierDetector.applyRemote}: do not broadcast them again. */
  source: 'local' | 'remote'
}

/** An ejection decided elsewhere (another worker), carried as a duration since clocks differ per process. */
export interface RemoteEjection {
  id: string
  ejected: boolean
  /** Remaining ejection time, ms (required when `ejected`). */
  durationMs?: number
  reason?: string
}

/** Options of {@link OutlierDetector}. */
export interface OutlierDetectorOptions {
  /** Pool name, for events. */
  pool: string
  config: OutlierDetectionConfig
  clock?: Clock | undefined
  /** Randomness for the ejection jitter, floats in [0, 1). */
  random?: (() => number) | undefined
  /** Time back in the pool that removes one step of the ejection multiplier, ms (default `baseEjectionMs`). */
  decayMs?: number | undefined
  /** Arm an unref'd timer per ejection that calls {@link OutlierDetector.tick} at expiry (default true). */
  timers?: boolean | undefined
}

/** One endpoint's outlier state (admin/debug view). */
export interface OutlierSnapshot {
  id: string
  ejected: boolean
  untilMs: number | undefined
  consecutiveFailures: number
  timesEjected: number
}

interface Entry {
  consecutive: number
  timesEjected: number
  untilMs: number | undefined
  /** Clock ms of the last return to the pool (for the decay). */
  returnedAt: number
  timer: NodeJS.Timeout | undefined
}

/** Share of the ejection time added at most as jitter. */
const JITTER_SHARE = 0.1

/**
 * How many endpoints of a pool of `poolSize` may be ejected at once: `floor(poolSize * percent / 100)`,
 * but at least 1 when the pool has 2 or more endpoints and `percent > 0` (Envoy's rule). So 50 % of 3
 * is 1, 10 % of 5 is 1, 50 % of 1 is 0 and 100 % of 1 is 1. An empty pool or `percent <= 0` gives 0.
 */
export function maxEjectedCount(poolSize: number, percent: number): number {
  if (poolSize <= 0 || !(percent > 0)) return 0
  const cap = Math.floor((poolSize * Math.min(percent, 100)) / 100)
  return poolSize >= 2 ? Math.max(cap, 1) : cap
}

/** Outlier detection for one pool in one worker. See the file header for the rules. */
export class OutlierDetector {
  readonly pool: string
  private readonly config: OutlierDetectionConfig
  private readonly clock: Clock
  private readonly random: () => number
  private readonly decayMs: number
  private readonly useTimers: boolean
  private readonly entries = new Map<string, Entry>()
  private readonly listeners = new Set<(e: EjectionChange) => void>()
  private ejectedNow = 0

  constructor(options: OutlierDetectorOptions) {
    this.pool = options.pool
    this.config = options.config
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? systemRandom
    this.decayMs = Math.max(1, options.decayMs ?? options.config.baseEjectionMs)
    this.useTimers = options.timers ?? true
  }

  /** Replaces the endpoint list. New ids start clean; removed ids are forgotten silently (no change event). */
  setEndpoints(ids: Iterable<string>): void {
    const wanted = new Set(ids)
    for (const [id, entry] of this.entries) {
      if (wanted.has(id)) continue
      clearTimeout(entry.timer)
      if (entry.untilMs !== undefined) this.ejectedNow--
      this.entries.delete(id)
    }
    const now = this.clock.now()
    for (const id of wanted) {
      if (!this.entries.has(id)) this.entries.set(id, { consecutive: 0, timesEjected: 0, untilMs: undefined, returnedAt: now, timer: undefined })
    }
  }

  /** A request to `id` succeeded: its failure count restarts. Unknown or ejected ids are ignored. */
  recordSuccess(id: string): void {
    const entry = this.entries.get(id)
    if (entry !== undefined && entry.untilMs === undefined) entry.consecutive = 0
  }

  /**
   * A request to `id` failed. Returns true when this failure ejected it. Does nothing when outlier
   * detection is disabled, the id is unknown or already ejected.
   */
  recordFailure(id: string, kind: OutlierFailureKind): boolean {
    const entry = this.entries.get(id)
    if (!this.config.enabled || entry === undefined || entry.untilMs !== undefined) return false
    entry.consecutive++
    if (entry.consecutive < Math.max(1, this.config.consecutiveFailures)) return false
    if (this.ejectedNow >= this.maxEjected) return false
    const now = this.clock.now()
    const steps = Math.floor((now - entry.returnedAt) / this.decayMs)
    entry.timesEjected = Math.max(0, entry.timesEjected - steps) + 1
    const reason = `${entry.consecutive} consecutive failures (last: ${kind})`
    return this.apply(id, entry, now + this.ejectionMs(entry.timesEjected), reason, 'local')
  }

  /** True while `id` is ejected (until its expiry is processed by the timer or {@link tick}). */
  isEjected(id: string): boolean {
    return this.entries.get(id)?.untilMs !== undefined
  }

  /** Endpoints ejected right now. */
  get ejectedCount(): number {
    return this.ejectedNow
  }

  /** The cap for the current pool size ({@link maxEjectedCount}). */
  get maxEjected(): number {
    return maxEjectedCount(this.entries.size, this.config.maxEjectedPercent)
  }

  /**
   * Ejects `id` until clock ms `untilMs` (an operator action, or a remote decision converted to local
   * time). Honours the cap. Returns true when `id` was not ejected and now is; an ejected `id` only has
   * its end moved later (no event). Does not change `timesEjected`.
   */
  eject(id: string, untilMs: number, reason = 'ejected', source: 'local' | 'remote' = 'local'): boolean {
    const entry = this.entries.get(id)
    const now = this.clock.now()
    if (entry === undefined || untilMs <= now) return false
    if (entry.untilMs !== undefined) {
      if (untilMs > entry.untilMs) this.arm(id, entry, untilMs)
      return false
    }
    if (this.ejectedNow >= this.maxEjected) return false
    return this.apply(id, entry, untilMs, reason, source)
  }

  /** Returns `id` to the pool now. Returns true when it was ejected. */
  restore(id: string, reason = 'restored', source: 'local' | 'remote' = 'local'): boolean {
    const entry = this.entries.get(id)
    if (entry?.untilMs === undefined) return false
    clearTimeout(entry.timer)
    entry.timer = undefined
    entry.untilMs = undefined
    entry.consecutive = 0
    entry.returnedAt = this.clock.now()
    this.ejectedNow--
    this.emit({ id, ejected: false, reason, source })
    return true
  }

  /** Applies an ejection or return seen in another worker (events carry `source: 'remote'`). */
  applyRemote(change: RemoteEjection): boolean {
    const reason = change.reason ?? 'remote'
    if (!change.ejected) return this.restore(change.id, reason, 'remote')
    if (!(change.durationMs !== undefined && change.durationMs > 0)) return false
    return this.eject(change.id, this.clock.now() + change.durationMs, reason, 'remote')
  }

  /** Returns every endpoint whose ejection has ended by now. Timers call it; tests on virtual time call it directly. */
  tick(): void {
    const now = this.clock.now()
    for (const [id, entry] of this.entries) {
      if (entry.untilMs !== undefined && entry.untilMs <= now) this.restore(id, 'ejection expired')
    }
  }

  /** Listens to ejections and returns. Returns an unsubscribe function. Listeners must not throw. */
  onChange(listener: (e: EjectionChange) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** Per endpoint state, in insertion order. */
  snapshot(): OutlierSnapshot[] {
    return [...this.entries].map(([id, e]) => ({
      id,
      ejected: e.untilMs !== undefined,
      untilMs: e.untilMs,
      consecutiveFailures: e.consecutive,
      timesEjected: e.timesEjected,
    }))
  }

  /** Clears every timer (ejections stay as they are). */
  close(): void {
    for (const entry of this.entries.values()) {
      clearTimeout(entry.timer)
      entry.timer = undefined
    }
  }

  /** Ejection length for the n-th ejection in a row, ms, jitter included. */
  private ejectionMs(timesEjected: number): number {
    const { baseEjectionMs, maxEjectionMs } = this.config
    const capMs = Math.max(maxEjectionMs, baseEjectionMs)
    const ms = Math.min(baseEjectionMs * 2 ** Math.min(timesEjected - 1, 30), capMs)
    return ms * (1 + JITTER_SHARE * this.random())
  }

  private apply(id: string, entry: Entry, untilMs: number, reason: string, source: 'local' | 'remote'): boolean {
    this.ejectedNow++
    this.arm(id, entry, untilMs)
    this.emit({ id, ejected: true, reason, untilMs, durationMs: untilMs - this.clock.now(), source })
    return true
  }

  private arm(id: string, entry: Entry, untilMs: number): void {
    entry.untilMs = untilMs
    clearTimeout(entry.timer)
    entry.timer = undefined
    if (!this.useTimers) return
    const timer = setTimeout(() => {
      this.tick()
      // The timer may run a little before the clock says so: try again at the (new) end.
      const current = this.entries.get(id)
      if (current === entry && entry.untilMs !== undefined && entry.timer === timer) this.arm(id, entry, entry.untilMs)
    }, Math.max(0, untilMs - this.clock.now()))
    timer.unref()
    entry.timer = timer
  }

  private emit(change: EjectionChange): void {
    if (ejectionChannel.hasSubscribers) {
      const event: EjectionEvent = { pool: this.pool, endpoint: change.id, ejected: change.ejected, reason: change.reason }
      if (change.untilMs !== undefined) event.untilMs = change.untilMs
      ejectionChannel.publish(event)
    }
    for (const listener of [...this.listeners]) listener(change)
  }
}
