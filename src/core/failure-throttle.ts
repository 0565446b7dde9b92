/**
 * Counts failed secret checks (admin token, `x-lb-debug`) per client and refuses further checks from a
 * client that failed too often, so the token cannot be guessed at network speed: after `maxFailures`
 * failures within `windowMs` of the first, the client is refused until that window ends, without the
 * token being compared at all. Memory is bounded: at most `maxClients` entries, the oldest dropped first
 * (a client with many addresses can push entries out, but each address still gets only `maxFailures`).
 * No timers: expiry is checked on use. Time comes from the injected clock (ms).
 */
import { systemClock, type Clock } from './clock.js'

/** Options of {@link FailureThrottle}; every field has a default. */
export interface FailureThrottleOptions {
  /** Failures allowed per window; default 10. */
  maxFailures?: number
  /** Window length in ms, from a client's first failure; default 60 000. */
  windowMs?: number
  /** Clients tracked at most; default 10 000. */
  maxClients?: number
  clock?: Clock
}

interface Entry {
  failures: number
  windowStart: number
}

/** Failed-attempt counter per client key (an IP address). */
export class FailureThrottle {
  private readonly maxFailures: number
  private readonly windowMs: number
  private readonly maxClients: number
  private readonly clock: Clock
  private readonly entries = new Map<string, Entry>()

  constructor(options: FailureThrottleOptions = {}) {
    this.maxFailures = options.maxFailures ?? 10
    this.windowMs = options.windowMs ?? 60_000
    this.maxClients = options.maxClients ?? 10_000
    this.clock = options.clock ?? systemClock
  }

  /** Ms until `key` may try again; 0 when it may try now. */
  retryAfterMs(key: string): number {
    const e = this.entries.get(key)
    if (e === undefined) return 0
    const left = e.windowStart + this.windowMs - this.clock.now()
    if (left <= 0) {
      this.entries.delete(key)
      return 0
    }
    return e.failures >= this.maxFailures ? left : 0
  }

  /** Records one failure of `key`. */
  fail(key: string): void {
    const now = this.clock.now()
    const e = this.entries.get(key)
    if (e !== undefined && now - e.windowStart < this.windowMs) {
      e.failures++
      return
    }
    this.entries.delete(key)
    if (this.entries.size >= this.maxClients) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
    this.entries.set(key, { failures: 1, windowStart: now })
  }

  /** Clients tracked now (for tests and metrics). */
  get size(): number {
    return this.entries.size
  }
}
