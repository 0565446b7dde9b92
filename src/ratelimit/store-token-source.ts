/**
 * Scope `global`: a {@link TokenSource} over the shared {@link StateStore}, so every worker of every instance
 * draws from one bucket per (route, key). Run it in the primary (one store client per instance; workers reach
 * it through {@link RateLimitPrimary}), or anywhere a store handle exists.
 *
 * Atomicity, today: a compare-and-set loop on a versioned value `rlb:<route>:<key>` = `{ t: level, at: wall ms }`
 * (read, refill, give back, take owed, grant, write with the read version; retry on conflict, at most
 * `maxAttempts` times, then grant 0: contention errs on the strict side). Leases of one key from this process
 * are chained, so the workers of one instance never conflict with each other.
 * Refill uses the wall clock (`Date.now`) of the writer: hosts whose clocks differ by d ms make the bucket lax or
 * strict by at most `rate * d / 1000` tokens per lease.
 *
 * Costs of the compare-and-set path (the memory store, which is per instance anyway): the store has no delete,
 * so one small value per key ever limited stays in the store's values hash, and every write is announced to
 * watchers. A store that implements {@link TokenBucketStore.takeTokens} (RedisStore: one Lua script, one
 * expiring key per bucket outside the values hash, state/token-bucket-script.ts) is used that way instead.
 *
 * Store unreachable (`health()` is 'degraded', a call rejects or takes longer than `timeoutMs`): the request
 * goes to `fallback` (the instance's own {@link RateLimitAuthority}): each instance then limits on its own, so
 * N instances let through up to N times the global rate until the store is back. A call that timed out may
 * still be applied later (tokens taken but not used: strict side).
 */
import { LbError, type Clock } from '../core/index.js'
import type { StateStore } from '../state/index.js'
import type { LeaseBatch, LeaseGrant, LeaseRequest, TokenSource } from './token-source.js'

/**
 * What a store offers beyond `StateStore` for global rate limits (RedisStore implements it): an atomic
 * token-bucket lease on the store's own clock.
 * Buckets expire once they would be full again, so idle keys cost nothing.
 */
export interface TokenBucketStore {
  takeTokens(key: string, request: { want: number; owed: number; giveBack: number }, policy: { ratePerSecond: number; burst: number }): Promise<LeaseGrant>
}

/** True when the store implements {@link TokenBucketStore} (then it is used instead of compare-and-set). */
export function hasTakeTokens(store: StateStore): store is StateStore & TokenBucketStore {
  return typeof (store as Partial<TokenBucketStore>).takeTokens === 'function'
}

/** Options of {@link StoreTokenSource}. */
export interface StoreTokenSourceOptions {
  /** Where requests go while the store is unreachable (normally an InProcessTokenSource on the primary's authority). */
  fallback?: TokenSource
  /** Wall clock shared by all hosts (ms since the epoch), for the compare-and-set path; default Date.now. */
  wallClock?: Clock
  /** Longest wait for the store per request before falling back, ms; default 250. */
  timeoutMs?: number
  /** Compare-and-set attempts per request before granting 0; default 8. */
  maxAttempts?: number
  /** Key prefix in the store's values namespace; default `rlb:`. */
  keyPrefix?: string
}

interface StoredBucket {
  /** Level (may be negative: debt). */
  t: number
  /** Wall-clock ms of the last write. */
  at: number
}

/** Global token source; see the file comment. */
export class StoreTokenSource implements TokenSource {
  private readonly fallback: TokenSource | undefined
  private readonly wall: Clock
  private readonly timeoutMs: number
  private readonly maxAttempts: number
  private readonly keyPrefix: string
  /** Tail of the chain of leases per store key (this process never races itself on one key). */
  private readonly chains = new Map<string, Promise<unknown>>()
  /** Requests answered by the fallback because the store could not (for metrics and tests). */
  fallbackCount = 0

  constructor(
    private readonly store: StateStore,
    options: StoreTokenSourceOptions = {},
  ) {
    this.fallback = options.fallback
    this.wall = options.wallClock ?? { now: () => Date.now() }
    this.timeoutMs = options.timeoutMs ?? 250
    this.maxAttempts = options.maxAttempts ?? 8
    this.keyPrefix = options.keyPrefix ?? 'rlb:'
  }

  lease(batch: LeaseBatch): Promise<LeaseGrant[]> {
    if (this.store.health() !== 'up' && this.fallback !== undefined) {
      this.fallbackCount += batch.requests.length
      return this.fallback.lease(batch)
    }
    return Promise.all(batch.requests.map((r) => this.leaseOne(batch, r)))
  }

  private async leaseOne(batch: LeaseBatch, r: LeaseRequest): Promise<LeaseGrant> {
    try {
      return await this.chained(`${this.keyPrefix}${batch.route}:${r.key}`, (k) => this.withTimeout(this.apply(k, batch, r)))
    } catch (err) {
      if (this.fallback === undefined) throw err
      this.fallbackCount++
      const [g] = await this.fallback.lease({ ...batch, requests: [r] })
      return g ?? { granted: 0, remaining: 0 }
    }
  }

  private apply(storeKey: string, batch: LeaseBatch, r: LeaseRequest): Promise<LeaseGrant> {
    if (hasTakeTokens(this.store)) return this.store.takeTokens(storeKey, r, batch)
    return this.compareAndSetLoop(storeKey, batch, r)
  }

  private async compareAndSetLoop(storeKey: string, batch: LeaseBatch, r: LeaseRequest): Promise<LeaseGrant> {
    const { ratePerSecond: rate, burst } = batch
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      // The read and the write are separate calls: another instance may write in between, and then the
      // compare-and-set fails and the loop reads again. Nothing is granted unless the write succeeded.
      const cur = await this.store.get<StoredBucket>(storeKey)
      const now = this.wall.now()
      let level = burst
      if (cur !== undefined) {
        const elapsed = Math.max(0, now - cur.value.at)
        level = Math.min(burst, cur.value.t + (elapsed * rate) / 1000)
      }
      level = Math.min(burst, level + r.giveBack)
      level = Math.max(-burst, level - r.owed)
      const granted = Math.max(0, Math.min(r.want, Math.floor(level + 1e-9)))
      level -= granted
      const written = await this.store.compareAndSet<StoredBucket>(storeKey, cur?.version ?? 0, { t: level, at: Math.max(now, cur?.value.at ?? 0) })
      if (written) return { granted, remaining: Math.max(0, Math.floor(level + 1e-9)) }
    }
    return { granted: 0, remaining: 0 }
  }

  private chained<T>(key: string, run: (key: string) => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve()
    const next = prev.then(
      () => run(key),
      () => run(key),
    )
    const tail = next.then(
      () => {},
      () => {},
    )
    this.chains.set(key, tail)
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key)
    })
    return next
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LbError('LB_ERR_STATE_UNAVAILABLE', `rate limit lease: no answer within ${this.timeoutMs} ms`)), this.timeoutMs)
      p.then(
        (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        (e: unknown) => {
          clearTimeout(timer)
          reject(e instanceof Error ? e : new Error(String(e)))
        },
      )
    })
  }
}
