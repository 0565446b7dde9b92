/**
 * Weighted random: each pick chooses an endpoint with probability weight / (sum of weights).
 * Stateless between picks, so it needs no coordination across workers and has no bias from ordering.
 *
 * Source: the textbook inverse-CDF method (cumulative weights + binary search), as in Envoy's
 * `RANDOM` load-balancing policy.
 * Cost per pick: O(log n) (one `random()` call, binary search over the cumulative weights); O(n) when
 * `ctx.exclude` is non-empty (a linear walk over the allowed weights); no allocation.
 * Load signal: none, only the configured weights.
 */
import type { Balancer, Endpoint, PickContext } from '../core/index.js'
import { eligibleEndpoints, excludeSet, weightedRandomExcluding } from './eligible.js'

/** Weighted random choice over the endpoints of weight > 0. Returns undefined when nothing is eligible. */
export class RandomBalancer implements Balancer {
  private endpoints: readonly Endpoint[] = []
  /** `cumulative[i]` = sum of the weights of endpoints 0..i. */
  private cumulative = new Float64Array(0)

  /** @param random float in [0, 1), one call per pick. */
  constructor(private readonly random: () => number) {}

  /** Replaces the ready set and rebuilds the cumulative weights. Allocates; never called per request. */
  reset(ready: readonly Endpoint[]): void {
    this.endpoints = eligibleEndpoints(ready)
    this.cumulative = new Float64Array(this.endpoints.length)
    let sum = 0
    this.endpoints.forEach((e, i) => {
      sum += e.weight
      this.cumulative[i] = sum
    })
  }

  /** A weighted random endpoint not in `ctx.exclude`. Ignores `hashKey`. */
  pick(ctx: PickContext): Endpoint | undefined {
    const exclude = excludeSet(ctx)
    if (exclude !== undefined) return weightedRandomExcluding(this.endpoints, exclude, this.random)
    const n = this.endpoints.length
    if (n <= 1) return this.endpoints[0]
    const target = this.random() * (this.cumulative[n - 1] ?? 0)
    // First index whose cumulative weight exceeds the target.
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.cumulative[mid] ?? 0) > target) hi = mid
      else lo = mid + 1
    }
    return this.endpoints[lo]
  }
}
