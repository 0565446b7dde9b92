/**
 * The owner of one instance's token buckets (scope `local`, and the fallback for `global` while the store is
 * unreachable). It lives in the primary process; workers reach it through IPC with {@link LeaseBatch}es. It is
 * a plain synchronous data structure: no timers, no I/O.
 *
 * Memory is bounded: a full bucket behaves exactly like a bucket never created, so full buckets are dropped
 * without changing any decision (sweep); beyond `maxKeys` the least recently used buckets go too (that key
 * then starts again from a full bucket: lax by at most one burst for keys idle the longest).
 */
import { systemClock, type Clock } from '../core/index.js'
import { TokenBucket } from './token-bucket.js'
import type { LeaseBatch, LeaseGrant, SyncTokenAuthority } from './token-source.js'

/** Options of {@link RateLimitAuthority}. */
export interface RateLimitAuthorityOptions {
  clock?: Clock
  /** Most buckets kept (all routes together); default 100 000. */
  maxKeys?: number
}

/** Bucket table; see the file comment. */
export class RateLimitAuthority implements SyncTokenAuthority {
  private readonly clock: Clock
  private readonly maxKeys: number
  /** Insertion order = recency (a used bucket is re-inserted), so the first entries are the LRU ones. */
  private readonly buckets = new Map<string, TokenBucket>()
  private leasesSinceSweep = 0

  constructor(options: RateLimitAuthorityOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.maxKeys = options.maxKeys ?? 100_000
  }

  /** Number of buckets held. */
  get size(): number {
    return this.buckets.size
  }

  /**
   * Applies each request to the bucket of (route, key): give back, then take `owed` (into debt if need be),
   * then grant up to `want`. A changed policy (rate or burst) replaces the bucket, keeping its level.
   */
  lease(batch: LeaseBatch): LeaseGrant[] {
    const now = this.clock.now()
    const out: LeaseGrant[] = []
    for (const r of batch.requests) {
      const b = this.bucket(batch, r.key, now)
      b.give(now, r.giveBack)
      b.force(now, r.owed)
      const granted = b.take(now, r.want)
      out.push({ granted, remaining: Math.max(0, Math.floor(b.level(now) + 1e-9)) })
    }
    this.leasesSinceSweep += batch.requests.length
    if (this.buckets.size > this.maxKeys || this.leasesSinceSweep >= 10_000) this.sweep()
    return out
  }

  /** Convenience for one key: tokens granted (0..want). */
  leaseOne(route: string, key: string, want: number, policy: { ratePerSecond: number; burst: number }): number {
    const [g] = this.lease({ route, scope: 'local', ratePerSecond: policy.ratePerSecond, burst: policy.burst, requests: [{ key, want, owed: 0, giveBack: 0 }] })
    return g?.granted ?? 0
  }

  /** Drops full buckets, then the least recently used beyond `maxKeys`. Returns how many were dropped. */
  sweep(): number {
    this.leasesSinceSweep = 0
    const now = this.clock.now()
    let dropped = 0
    for (const [k, b] of this.buckets) {
      if (b.isFull(now)) {
        this.buckets.delete(k)
        dropped++
      }
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break
      this.buckets.delete(k)
      dropped++
    }
    return dropped
  }

  private bucket(batch: LeaseBatch, key: string, now: number): TokenBucket {
    const id = `${batch.route}\n${key}`
    let b = this.buckets.get(id)
    if (b !== undefined) {
      this.buckets.delete(id)
      if (b.ratePerSecond !== batch.ratePerSecond || b.burst !== batch.burst) {
        b = new TokenBucket(batch.ratePerSecond, batch.burst, now, b.level(now))
      }
    } else {
      b = new TokenBucket(batch.ratePerSecond, batch.burst, now)
    }
    this.buckets.set(id, b)
    return b
  }
}
