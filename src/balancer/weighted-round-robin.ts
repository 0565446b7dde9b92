/**
 * Smooth weighted round robin: every pick adds each endpoint's weight to its `current` score, picks
 * the highest score (the first one on a tie) and subtracts the total weight from the winner. Over one
 * cycle of `sum(weights)` picks each endpoint is chosen exactly `weight` times, and the heavy ones are
 * spread out instead of bunched: weights 5, 1, 1 for a, b, c give `a a b a c a a` repeating.
 *
 * Source: nginx `ngx_http_upstream_get_peer`,
 * https://github.com/nginx/nginx/blob/master/src/http/ngx_http_upstream_round_robin.c (smooth WRR, 2012).
 * Cost per pick: O(n), no allocation. Load signal: none, only the configured weights.
 * Excluded endpoints sit the pick out (their score is not advanced), as nginx does with tried peers.
 */
import type { Balancer, Endpoint, PickContext } from '../core/index.js'
import { eligibleEndpoints, excludeSet } from './eligible.js'

/**
 * nginx's smooth weighted round robin over the endpoints of weight > 0. Weights may be fractional.
 * `reset()` restarts the cycle (all scores 0). Returns undefined when nothing is eligible.
 */
export class WeightedRoundRobinBalancer implements Balancer {
  private endpoints: readonly Endpoint[] = []
  private current = new Float64Array(0)

  /** Replaces the ready set and zeroes the scores. Allocates; never called per request. */
  reset(ready: readonly Endpoint[]): void {
    this.endpoints = eligibleEndpoints(ready)
    this.current = new Float64Array(this.endpoints.length)
  }

  /** The endpoint with the highest smoothed score among those not in `ctx.exclude`. Ignores `hashKey`. */
  pick(ctx: PickContext): Endpoint | undefined {
    const endpoints = this.endpoints
    const current = this.current
    const exclude = excludeSet(ctx)
    let total = 0
    let best = -1
    let bestScore = 0
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i]
      if (e === undefined || (exclude !== undefined && exclude.has(e.id))) continue
      const score = (current[i] ?? 0) + e.weight
      current[i] = score
      total += e.weight
      if (best < 0 || score > bestScore) {
        best = i
        bestScore = score
      }
    }
    if (best < 0) return undefined
    current[best] = bestScore - total
    return endpoints[best]
  }
}
