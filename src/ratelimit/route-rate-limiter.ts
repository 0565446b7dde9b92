/**
 * The per-route, per-worker limiter the request handler calls: `check(key)` decides synchronously from local
 * state; tokens come from a shared bucket through a {@link TokenSource}, in the background, in batches.
 *
 * Per key the worker keeps:
 * - an *allowance*: tokens leased from the shared bucket ahead of need. Leases go out once per lease interval
 *   (one batch per route) for keys that saw demand; the size follows the demand of the last interval (at most
 *   `maxLease`, the burst by default). A leased token is usable for `holdMs` (one interval) only; unused ones are given back in the
 *   next batch. So a token is spent at most `holdMs` (+ transport time) after it left the bucket, which bounds
 *   the overspend of the burst by `rate * holdMs` tokens (the default interval makes that 10 % of the burst).
 * - a *debt*: tokens spent optimistically, reported as `owed` in the next batch and taken from the bucket even
 *   into debt (a negative level delays later refills, so the long-run rate stays exact). This answers the first
 *   request of an unseen key (no false 429 while the first lease travels) and light traffic (a key seen once in
 *   a while never needs a lease round trip). It is allowed only while the last known shared level (refilled
 *   locally only when that news is older than two intervals, i.e. the key is not busy) minus this worker's
 *   unsettled debt is at least 1, and only up to `optimisticTokens` unsettled
 *   tokens per key per worker: with W workers the burst can be overspent by at most W * optimisticTokens.
 *
 * So, for a flood longer than the burst, every token granted to the fleet came out of the shared bucket or was
 * force-taken from it: allowed = burst + rate * T, plus at most (workers x (optimisticTokens + maxLease)) tokens
 * still in flight at the end.
 *
 * When the source fails (IPC not answered, store down and no store fallback), the batch goes to `fallback`: a
 * bucket table in this worker, so the limit then holds per worker.
 *
 * Memory: at most `maxKeys` keys (least recently used evicted first; an evicted key forgets its debt and its
 * allowance: lax by at most `optimisticTokens`), and keys idle for `idleMs` are swept.
 */
import { systemClock, type Clock } from '../core/index.js'
import { RateLimitAuthority } from './rate-limit-authority.js'
import { InProcessTokenSource, type LeaseBatch, type LeaseGrant, type LeaseRequest, type TokenSource } from './token-source.js'

/** The decision for one request, with what the `RateLimit` headers report. */
export interface RateLimitResult {
  allowed: boolean
  /** The burst: the most requests a client can make at once. */
  limit: number
  /** Estimated whole tokens left for this key (this worker's allowance + the shared bucket). */
  remaining: number
  /** Seconds until the key's bucket is estimated full again (0 when full). */
  resetSeconds: number
  /** Seconds to wait before retrying (0 when allowed; at least 1 when refused). */
  retryAfterSeconds: number
}

/** The policy of one route (RateLimitConfig without the key extraction). */
export interface RateLimitPolicy {
  ratePerSecond: number
  burst: number
  scope: 'local' | 'global'
}

/** Options of {@link RouteRateLimiter}. */
export interface RouteRateLimiterOptions {
  /** Route name (bucket namespace and the policy name in headers). */
  route: string
  policy: RateLimitPolicy
  /** Where shared tokens come from (LocalTokenSource in a worker, InProcessTokenSource in one process). */
  source: TokenSource
  /** Used when `source` rejects; default a bucket table inside this worker. */
  fallback?: TokenSource
  clock?: Clock
  /** Batch period, ms; default `100 * burst / rate` (overspend <= 10 % of burst) clamped to [10, 100]. */
  leaseIntervalMs?: number
  /** Most tokens one lease asks for; default the burst (leases follow demand; `holdMs` bounds the overspend). */
  maxLease?: number
  /** Unsettled optimistic tokens per key; default max(1, floor(burst / 20)). */
  optimisticTokens?: number
  /** Most keys tracked; default 10 000. */
  maxKeys?: number
  /** A key unused this long is forgotten, ms; default max(10 s, 2 x the time to refill the burst). */
  idleMs?: number
  /** Run the batch timer (default true). false: call `flush()` yourself (virtual-time tests). */
  timers?: boolean
}

interface KeyState {
  readonly key: string
  allowance: number
  /** Clock ms after which the allowance may not be used (it is given back). */
  expiresAt: number
  /** Spent optimistically, not yet reported. */
  debt: number
  /** Reported as owed in the lease in flight. */
  owedInFlight: number
  /** Shared bucket level at `levelAt` (from the last grant; `burst` for an unseen key). */
  level: number
  levelAt: number
  /** Checks since the last lease was sent. */
  demand: number
  /** Refusals since the last lease was sent. */
  refused: number
  pending: boolean
  lastUsed: number
}

/** Per-route, per-worker limiter; see the file comment. */
export class RouteRateLimiter {
  readonly route: string
  readonly policy: Readonly<RateLimitPolicy>
  readonly leaseIntervalMs: number
  private readonly holdMs: number
  private readonly maxLease: number
  private readonly optimisticTokens: number
  private readonly maxKeys: number
  private readonly idleMs: number
  private readonly source: TokenSource
  private readonly fallback: TokenSource
  private readonly clock: Clock
  /** Insertion order = recency: the first entries are the least recently used. */
  private readonly keys = new Map<string, KeyState>()
  /** Keys that need a lease round (demand, debt, or an allowance to expire). */
  private readonly dirty = new Set<KeyState>()
  private readonly timer: NodeJS.Timeout | undefined
  private lastSweep = 0
  /** Batches answered by the fallback (for metrics and tests). */
  fallbackBatches = 0

  constructor(options: RouteRateLimiterOptions) {
    const { ratePerSecond: rate, burst } = options.policy
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError(`rate limit of route ${options.route}: rate must be > 0 and burst >= 1`)
    this.route = options.route
    this.policy = { ...options.policy }
    this.clock = options.clock ?? systemClock
    this.leaseIntervalMs = options.leaseIntervalMs ?? Math.min(100, Math.max(10, (100 * burst) / rate))
    this.holdMs = this.leaseIntervalMs
    this.maxLease = options.maxLease ?? Math.max(1, Math.floor(burst))
    this.optimisticTokens = options.optimisticTokens ?? Math.max(1, Math.floor(burst / 20))
    this.maxKeys = options.maxKeys ?? 10_000
    this.idleMs = options.idleMs ?? Math.max(10_000, (2_000 * burst) / rate)
    this.source = options.source
    this.fallback = options.fallback ?? new InProcessTokenSource(new RateLimitAuthority({ clock: this.clock }))
    if (options.timers !== false) {
      this.timer = setInterval(() => void this.flush(), this.leaseIntervalMs)
      this.timer.unref()
    }
  }

  /** Decides one request for `key`. Synchronous; never throws. */
  check(key: string): RateLimitResult {
    const now = this.clock.now()
    const e = this.entry(key, now)
    e.demand++
    this.dirty.add(e)
    const { ratePerSecond: rate, burst } = this.policy
    const usable = now < e.expiresAt ? e.allowance : 0
    let allowed = false
    if (usable >= 1) {
      e.allowance--
      allowed = true
    } else if (e.debt + e.owedInFlight < this.optimisticTokens && this.sharedEstimate(e, now) >= 1) {
      e.debt++
      allowed = true
    } else {
      e.refused++
    }
    const level = (now < e.expiresAt ? e.allowance : 0) + this.sharedEstimate(e, now)
    // A refused request reports 0 even when the shared bucket holds tokens this worker has not leased yet.
    const remaining = allowed ? Math.max(0, Math.floor(level + 1e-9)) : 0
    const resetSeconds = level >= burst ? 0 : Math.ceil((burst - level) / rate)
    let retryAfterSeconds = 0
    if (!allowed) retryAfterSeconds = Math.max(1, Math.ceil(Math.max(this.leaseIntervalMs / 1000, (1 - level) / rate)))
    return { allowed, limit: burst, remaining, resetSeconds, retryAfterSeconds }
  }

  /** Keys tracked now. */
  get size(): number {
    return this.keys.size
  }

  /**
   * Sends one batch for every key that needs it and resolves when the answers are applied. Runs on the timer;
   * never rejects. A key with a lease in flight waits for the next round.
   */
  async flush(): Promise<void> {
    const now = this.clock.now()
    this.sweep(now)
    if (this.dirty.size === 0) return
    const states: KeyState[] = []
    const requests: LeaseRequest[] = []
    // Keys to look at again next round. Not re-added during the loop: a Set visits what is added while it
    // is iterated, so re-adding the current key would loop forever.
    const again: KeyState[] = []
    for (const e of this.dirty) {
      if (e.pending) continue
      this.dirty.delete(e)
      let giveBack = 0
      if (e.allowance > 0 && now >= e.expiresAt) {
        giveBack = e.allowance
        e.allowance = 0
      }
      const owed = e.debt
      // Lease ahead only for keys busier than the optimistic allowance covers.
      const busy = e.refused > 0 || e.demand > this.optimisticTokens
      const want = busy ? Math.max(0, Math.min(this.maxLease, e.demand) - e.allowance) : 0
      e.demand = 0
      e.refused = 0
      if (want === 0 && owed === 0 && giveBack === 0) {
        if (e.allowance > 0) again.push(e) // to give it back once it expires
        continue
      }
      e.debt = 0
      e.owedInFlight += owed
      e.pending = true
      states.push(e)
      requests.push({ key: e.key, want, owed, giveBack })
    }
    for (const e of again) this.dirty.add(e)
    if (requests.length === 0) return
    const { ratePerSecond, burst, scope } = this.policy
    const batch: LeaseBatch = { route: this.route, scope, ratePerSecond, burst, requests }
    let grants: LeaseGrant[]
    try {
      grants = await this.source.lease(batch)
    } catch {
      this.fallbackBatches++
      try {
        grants = await this.fallback.lease(batch)
      } catch {
        grants = []
      }
    }
    const at = this.clock.now()
    for (let i = 0; i < states.length; i++) {
      const e = states[i] as KeyState
      const r = requests[i] as LeaseRequest
      const g = grants[i] ?? { granted: 0, remaining: 0 }
      e.pending = false
      e.owedInFlight -= r.owed
      e.level = g.remaining
      e.levelAt = at
      if (g.granted > 0) {
        e.allowance += g.granted
        e.expiresAt = at + this.holdMs
        this.dirty.add(e)
      }
    }
  }

  /** Stops the batch timer. Allowances still held are simply dropped (strict side). */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  /**
   * The shared level as this worker believes it, minus its unsettled debt. The last known level is refilled
   * locally only once it is older than two lease intervals: while the key is busy, answers arrive every
   * interval and the refill is shared with every other worker asking for the same key, so extrapolating it
   * here would let each of them spend it again (W workers would overspend W - 1 times the rate).
   */
  private sharedEstimate(e: KeyState, now: number): number {
    const { ratePerSecond: rate, burst } = this.policy
    const age = now - e.levelAt
    const refilled = age >= 2 * this.leaseIntervalMs ? Math.min(burst, e.level + (age * rate) / 1000) : e.level
    return refilled - e.debt - e.owedInFlight
  }

  private entry(key: string, now: number): KeyState {
    let e = this.keys.get(key)
    if (e !== undefined) {
      this.keys.delete(key)
      this.keys.set(key, e)
    } else {
      e = { key, allowance: 0, expiresAt: 0, debt: 0, owedInFlight: 0, level: this.policy.burst, levelAt: now, demand: 0, refused: 0, pending: false, lastUsed: now }
      this.keys.set(key, e)
      if (this.keys.size > this.maxKeys) {
        const oldest = this.keys.values().next().value as KeyState
        this.keys.delete(oldest.key)
        this.dirty.delete(oldest)
      }
    }
    e.lastUsed = now
    return e
  }

  /** Forgets keys idle for `idleMs` (oldest first; stops at the first recent one). At most once a second. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1_000) return
    this.lastSweep = now
    for (const e of this.keys.values()) {
      if (now - e.lastUsed < this.idleMs) break
      if (e.pending) continue
      this.keys.delete(e.key)
      this.dirty.delete(e)
    }
  }
}
