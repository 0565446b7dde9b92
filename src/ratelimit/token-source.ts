/**
 * The transport between a worker's {@link RouteRateLimiter} and the shared buckets. One interface serves both
 * scopes: `local` (the bucket table in the primary, reached through IPC: {@link LocalTokenSource}) and `global`
 * (the shared store: {@link StoreTokenSource}); {@link InProcessTokenSource} serves tests and single-process mode.
 *
 * Requests travel in batches: one call per route per lease interval carries every key that needs tokens, so
 * the cost is one message per route per interval, not one per request.
 */
/** What a worker asks for one key. All counts are whole tokens, >= 0. */
export interface LeaseRequest {
  readonly key: string
  /** Tokens wanted ahead of need; granted up to what the bucket holds. */
  readonly want: number
  /**
   * Tokens already spent optimistically (first request of an unseen key, see RouteRateLimiter): taken
   * unconditionally, even into debt, before `want` is considered.
   */
  readonly owed: number
  /** Leased tokens that expired unused: returned to the bucket (capped at burst) first. */
  readonly giveBack: number
}

/** The answer for one {@link LeaseRequest}. */
export interface LeaseGrant {
  /** Tokens now owned by the asker (0..want). */
  readonly granted: number
  /** Whole tokens left in the shared bucket after this grant (>= 0; 0 also when in debt). */
  readonly remaining: number
}

/** One route's requests, with the policy (so the bucket owner needs no configuration of its own). */
export interface LeaseBatch {
  readonly route: string
  readonly scope: 'local' | 'global'
  readonly ratePerSecond: number
  readonly burst: number
  readonly requests: readonly LeaseRequest[]
}

/** Grants tokens from shared buckets. `lease` resolves one grant per request, in order; it may reject (then the caller falls back). */
export interface TokenSource {
  lease(batch: LeaseBatch): Promise<LeaseGrant[]>
}

/**
 * Whatever owns buckets in this process and answers a batch synchronously (the `RateLimitAuthority`).
 * Declared here, beside the batch types it speaks, so the authority depends on this file and not the reverse.
 */
export interface SyncTokenAuthority {
  lease(batch: LeaseBatch): LeaseGrant[]
}

/** Options of {@link InProcessTokenSource}. */
export interface InProcessTokenSourceOptions {
  /** Simulated transport delay, ms, applied before the authority sees the batch (default 0: next microtask). */
  delayMs?: number
}

/** A {@link TokenSource} over an authority in the same process (single-process mode, the primary's own fallback, tests). */
export class InProcessTokenSource implements TokenSource {
  private readonly delayMs: number

  constructor(
    private readonly authority: SyncTokenAuthority,
    options: InProcessTokenSourceOptions = {},
  ) {
    this.delayMs = options.delayMs ?? 0
  }

  lease(batch: LeaseBatch): Promise<LeaseGrant[]> {
    if (this.delayMs <= 0) return Promise.resolve().then(() => this.authority.lease(batch))
    return new Promise((resolve) => setTimeout(() => resolve(this.authority.lease(batch)), this.delayMs))
  }
}
