/**
 * Round robin: hand requests to the endpoints in turn, one each, over and over.
 *
 * Source: the classic scheduler; nginx `upstream` with equal weights, HAProxy `balance roundrobin`.
 * Cost per pick: O(1); O(n) only when `ctx.exclude` names endpoints (they are skipped in order).
 * Load signal: none. Weights are read only to drop endpoints of weight 0; other values are ignored
 * (use `weighted-round-robin` to honour them).
 *
 * Global round robin: with a `sequence` (numbers drawn from one counter shared by every worker and
 * instance, leased in blocks so no pick waits), number `s` goes to `ready[s % n]`. Every worker holds
 * the ready set in the same order (configuration order), so the endpoints' totals stay even across
 * the whole fleet, not just per worker.
 */
import type { Balancer, Endpoint, PickContext } from '../core/index.js'
import { eligibleEndpoints, excludeSet } from './eligible.js'

/**
 * Plain rotation over the endpoints of weight > 0. `reset()` keeps the rotation position (modulo the
 * new size) so a re-weight does not send the next request back to the first endpoint.
 * Returns undefined when the set is empty, all weights are 0, or every endpoint is excluded.
 */
export class RoundRobinBalancer implements Balancer {
  private endpoints: readonly Endpoint[] = []
  private next = 0

  /** `sequence`: optional shared sequence; see the file comment. */
  constructor(private readonly sequence?: () => number | undefined) {}

  /** Replaces the ready set. Allocates; never called per request. */
  reset(ready: readonly Endpoint[]): void {
    this.endpoints = eligibleEndpoints(ready)
    this.next = this.endpoints.length === 0 ? 0 : this.next % this.endpoints.length
  }

  /** The next endpoint in rotation that is not in `ctx.exclude`. `ctx.hashKey` is ignored. */
  pick(ctx: PickContext): Endpoint | undefined {
    const endpoints = this.endpoints
    const n = endpoints.length
    const exclude = excludeSet(ctx)
    if (this.sequence !== undefined && exclude === undefined && n > 0) {
      const s = this.sequence()
      if (s !== undefined) return endpoints[s % n]
    }
    for (let step = 0; step < n; step++) {
      const i = (this.next + step) % n
      const e = endpoints[i]
      if (e === undefined || (exclude !== undefined && exclude.has(e.id))) continue
      this.next = (i + 1) % n
      return e
    }
    return undefined
  }
}
