/**
 * Least connections: send the request to the endpoint with the fewest requests in flight relative to
 * its weight (lowest `inFlight / weight`), as nginx `least_conn` does.
 *
 * Source: nginx `ngx_http_upstream_get_least_conn_peer`,
 * https://github.com/nginx/nginx/blob/master/src/http/modules/ngx_http_upstream_least_conn_module.c
 * Cost per pick: O(n) (one `inFlight()` read per endpoint), no allocation.
 * Load signal: `EndpointLoad.inFlight(id)` (this worker's requests in flight).
 * Ties: broken by WEIGHTED RANDOM among the tied endpoints (weighted reservoir sampling: the k-th tied
 * endpoint replaces the current choice with probability weight / (sum of tied weights so far)). An idle
 * pool therefore splits traffic by weight, and no endpoint is favoured by its position in the list.
 */
import type { Balancer, Endpoint, EndpointLoad, PickContext } from '../core/index.js'
import { eligibleEndpoints, excludeSet } from './eligible.js'

/**
 * Weighted least connections over the endpoints of weight > 0. Compares `inFlight(a) * weight(b)`
 * with `inFlight(b) * weight(a)` (no division). Returns undefined when nothing is eligible.
 */
export class LeastConnectionsBalancer implements Balancer {
  private endpoints: readonly Endpoint[] = []

  /**
   * @param load where in-flight counts are read, once per endpoint per pick.
   * @param random float in [0, 1), used only to break ties.
   */
  constructor(
    private readonly load: EndpointLoad,
    private readonly random: () => number,
  ) {}

  /** Replaces the ready set. Allocates; never called per request. */
  reset(ready: readonly Endpoint[]): void {
    this.endpoints = eligibleEndpoints(ready)
  }

  /** The least loaded endpoint (per weight) not in `ctx.exclude`. Ignores `hashKey`. */
  pick(ctx: PickContext): Endpoint | undefined {
    const exclude = excludeSet(ctx)
    let best: Endpoint | undefined
    let bestLoad = 0
    let tiedWeight = 0
    for (const e of this.endpoints) {
      if (exclude !== undefined && exclude.has(e.id)) continue
      const inFlight = this.load.inFlight(e.id)
      if (best === undefined) {
        best = e
        bestLoad = inFlight
        tiedWeight = e.weight
        continue
      }
      const lhs = inFlight * best.weight
      const rhs = bestLoad * e.weight
      if (lhs < rhs) {
        best = e
        bestLoad = inFlight
        tiedWeight = e.weight
      } else if (lhs === rhs) {
        tiedWeight += e.weight
        if (this.random() * tiedWeight < e.weight) {
          best = e
          bestLoad = inFlight
        }
      }
    }
    return best
  }
}
