/**
 * Fixed-window counters shared by every worker and instance, for the global rate limiter, without a store
 * call per request.
 *
 * `add()` counts locally and answers synchronously with an estimate of the global count of the current
 * window: the last total the store returned plus the local increments it has not acknowledged yet. Every
 * `flushIntervalMs` (100 ms) the unacknowledged increments of each key go to the store in one
 * `incrementBy(key:window, n, 2 x windowMs)`, whose reply is the new global total. So the estimate lags the
 * other instances by at most one flush interval plus one round trip.
 *
 * Window: `floor(clock.now() / windowMs)`, with a wall clock (Date.now by default) so that every host agrees
 * on the window boundaries (within their clock skew).
 *
 * Store down: the flushes fail, the increments stay unacknowledged and the estimate becomes "last known
 * global total of this window + everything counted locally since": a local fallback that never under-counts
 * this instance's own traffic. When a new window starts during the outage, it counts local traffic only.
 * When the store is back, the current window's unacknowledged increments are flushed; older windows are
 * dropped. Race accepted on purpose: a flush that timed out may still have been applied (a frozen server
 * answering late), and is sent again: the count can be too high by one batch, never too low.
 */
import type { Clock } from '../core/index.js'
import type { StateStore } from './store.js'

/** Options of {@link BatchedCounter}. */
export interface BatchedCounterOptions {
  store: Pick<StateStore, 'incrementBy'>
  /** Window length, ms. */
  windowMs: number
  /** Flush period, ms; default 100. */
  flushIntervalMs?: number
  /** Counter key prefix in the store; default `rl:`. */
  keyPrefix?: string
  /** Wall clock shared by all hosts (ms since the epoch); default `Date.now`. */
  clock?: Clock
}

interface Slot {
  window: number
  /** Local increments in this window. */
  local: number
  /** Local increments the store has acknowledged (included in `global`). */
  acked: number
  /** Last global total returned by the store for this window. */
  global: number
  /** Estimate of the previous window's final count (for sliding-window approximations). */
  previous: number
}

/** Batched global counters; see the file comment. */
export class BatchedCounter {
  private readonly store: Pick<StateStore, 'incrementBy'>
  private readonly windowMs: number
  private readonly keyPrefix: string
  private readonly clock: Clock
  private readonly slots = new Map<string, Slot>()
  private readonly timer: NodeJS.Timeout
  private flushing: Promise<void> | undefined
  private closed = false

  constructor(options: BatchedCounterOptions) {
    this.store = options.store
    this.windowMs = options.windowMs
    this.keyPrefix = options.keyPrefix ?? 'rl:'
    this.clock = options.clock ?? { now: () => Date.now() }
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 100)
    this.timer.unref()
  }

  /** Counts `n` (default 1) for `key` and returns the estimated global count of the current window, synchronous. */
  add(key: string, n = 1): number {
    const slot = this.slot(key)
    slot.local += n
    return slot.global + slot.local - slot.acked
  }

  /** Estimated global count of `key` in the current window, without counting. */
  count(key: string): number {
    const slot = this.slot(key)
    return slot.global + slot.local - slot.acked
  }

  /** Estimated final count of `key` in the previous window (0 when unknown). */
  previousCount(key: string): number {
    return this.slot(key).previous
  }

  /** Start (clock ms) of the current window. */
  windowStart(): number {
    return Math.floor(this.clock.now() / this.windowMs) * this.windowMs
  }

  /** Sends the unacknowledged increments now. Never rejects; concurrent calls share one flush. */
  flush(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = undefined
    })
    return this.flushing
  }

  /** Stops the timer after a last flush attempt. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    await this.flush()
  }

  private async flushOnce(): Promise<void> {
    const window = this.currentWindow()
    const sends: Promise<void>[] = []
    for (const [key, slot] of this.slots) {
      if (slot.window < window - 1) {
        this.slots.delete(key) // idle for two windows
        continue
      }
      if (slot.window !== window) continue // the previous window is over: its unsent increments no longer matter
      const pending = slot.local - slot.acked
      if (pending === 0) continue
      sends.push(
        this.store.incrementBy(`${this.keyPrefix}${key}:${window}`, pending, this.windowMs * 2).then(
          (total) => {
            // The slot may have rolled to a new window while the call was in flight: the reply is then stale.
            if (slot.window !== window) return
            slot.acked += pending
            slot.global = total
          },
          () => {},
        ),
      )
    }
    await Promise.all(sends)
  }

  private currentWindow(): number {
    return Math.floor(this.clock.now() / this.windowMs)
  }

  private slot(key: string): Slot {
    const window = this.currentWindow()
    let slot = this.slots.get(key)
    if (slot === undefined) {
      slot = { window, local: 0, acked: 0, global: 0, previous: 0 }
      this.slots.set(key, slot)
    } else if (slot.window !== window) {
      // New window: the same object is reset, so an in-flight flush sees `slot.window` change.
      slot.previous = slot.window === window - 1 ? slot.global + slot.local - slot.acked : 0
      slot.window = window
      slot.local = 0
      slot.acked = 0
      slot.global = 0
    }
    return slot
  }
}
