/**
 * A classic token bucket (Turner 1986; RFC 2697's "committed burst" bucket): the bucket holds at most `burst`
 * tokens and gains `ratePerSecond` tokens per second; a request takes one. Over any interval of length T a
 * bucket that starts full grants at most `burst + ratePerSecond * T` tokens, which is the property every
 * limiter in this folder is measured against.
 *
 * Time is injected (`now`, Clock milliseconds) so tests run on virtual time. Cost: O(1) per call, two
 * numbers of state. Refill is computed lazily from the time since the last call; a clock that goes back is
 * treated as "no time passed".
 *
 * Beyond the textbook operations, the coordinated limiter needs two more: `force` (take tokens that were
 * already spent, so the level may go negative: a debt that delays later refills) and `give` (return unused
 * tokens, capped at `burst`).
 */

/** Fractions below this count as a whole token (guards against 0.9999999 after float refills). */
const EPSILON = 1e-9

/** A token bucket on an injected clock; see the file comment. */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  /**
   * @param ratePerSecond tokens added per second (> 0)
   * @param burst capacity in tokens (>= 1); also the initial level unless `initial` says otherwise
   * @param now current Clock time, ms
   * @param initial starting level (default `burst`, a full bucket)
   */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now: number,
    initial = burst,
  ) {
    if (!(ratePerSecond > 0) || !(burst > 0)) throw new RangeError(`token bucket needs rate > 0 and burst > 0, got ${ratePerSecond}, ${burst}`)
    this.tokens = Math.min(burst, initial)
    this.updatedAt = now
  }

  /** Current level after refill (may be negative after `force`). */
  level(now: number): number {
    this.refill(now)
    return this.tokens
  }

  /** Takes `n` tokens (default 1) if all are there; false and nothing taken otherwise. */
  tryTake(now: number, n = 1): boolean {
    this.refill(now)
    if (this.tokens + EPSILON < n) return false
    this.tokens -= n
    return true
  }

  /** Takes up to `want` whole tokens and returns how many it took (0 when empty or in debt). */
  take(now: number, want: number): number {
    this.refill(now)
    if (want <= 0) return 0
    const granted = Math.max(0, Math.min(want, Math.floor(this.tokens + EPSILON)))
    this.tokens -= granted
    return granted
  }

  /**
   * Takes `n` tokens whether or not they are there (they were already spent): the level may go negative,
   * down to `-burst` at most, so a debt can never block a key for longer than `2 * burst / rate` seconds.
   */
  force(now: number, n: number): void {
    this.refill(now)
    if (n > 0) this.tokens = Math.max(-this.burst, this.tokens - n)
  }

  /** Returns `n` unused tokens; the level stays capped at `burst`. */
  give(now: number, n: number): void {
    this.refill(now)
    if (n > 0) this.tokens = Math.min(this.burst, this.tokens + n)
  }

  /** Milliseconds until `n` tokens (default 1) are available; 0 when they already are. */
  retryAfterMs(now: number, n = 1): number {
    this.refill(now)
    const missing = n - this.tokens
    return missing <= EPSILON ? 0 : (missing * 1000) / this.ratePerSecond
  }

  /** Milliseconds until the bucket is full again; 0 when it is. */
  fullInMs(now: number): number {
    this.refill(now)
    return ((this.burst - this.tokens) * 1000) / this.ratePerSecond
  }

  /** True when the bucket is full: it then behaves exactly like a bucket never used (so it can be forgotten). */
  isFull(now: number): boolean {
    this.refill(now)
    return this.tokens >= this.burst - EPSILON
  }

  private refill(now: number): void {
    const elapsed = now - this.updatedAt
    if (elapsed <= 0) return
    this.updatedAt = now
    if (this.tokens < this.burst) this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000)
  }
}
