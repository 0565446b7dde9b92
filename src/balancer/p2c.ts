/**
 * Power of two choices (P2C): draw two DISTINCT endpoints uniformly at random and send the request to
 * the less loaded one. Almost as good as scanning for the least loaded endpoint, at O(1), and without
 * the herd effect of every worker choosing the same "least" endpoint at once.
 *
 * Source: M. Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", IEEE TPDS 12(10),
 * 2001; linkerd2-proxy `linkerd/pool/p2c/src/lib.rs` (`gen_pair`: the second index is drawn from n - 1
 * values and shifted past the first, so the two are always distinct).
 * Cost per pick: O(1) (two `random()` calls, two load reads); O(n) when `ctx.exclude` is non-empty
 * (the eligible endpoints are counted and the two ranks located by a scan), no allocation.
 * Load signal: `EndpointLoad.inFlight(id)`; cost = (inFlight + 1) / weight, lower wins, a tie goes to
 * the first draw (itself random, so ties are fair).
 */
import type { Balancer, Endpoint, EndpointLoad, PickContext } from '../core/index.js'
import { eligibleEndpoints, excludeSet, randomIndex } from './eligible.js'

/**
 * P2C over the endpoints of weight > 0. With one eligible endpoint it is returned without a draw;
 * with none, undefined. Subclasses change only {@link P2cBalancer.cost}.
 */
export class P2cBalancer implements Balancer {
  protected endpoints: readonly Endpoint[] = []

  /**
   * @param load the load signals read by {@link P2cBalancer.cost}.
   * @param random float in [0, 1), two calls per pick.
   */
  constructor(
    protected readonly load: EndpointLoad,
    protected readonly random: () => number,
  ) {}

  /** Replaces the ready set. Allocates; never called per request. */
  reset(ready: readonly Endpoint[]): void {
    this.endpoints = eligibleEndpoints(ready)
  }

  /** The cheaper of two distinct random endpoints not in `ctx.exclude`. Ignores `hashKey`. */
  pick(ctx: PickContext): Endpoint | undefined {
    const exclude = excludeSet(ctx)
    const n = exclude === undefined ? this.endpoints.length : this.countAllowed(exclude)
    if (n === 0) return undefined
    if (n === 1) return this.nthAllowed(0, exclude)
    const i = randomIndex(this.random, n)
    let j = randomIndex(this.random, n - 1)
    if (j >= i) j++
    const a = this.nthAllowed(i, exclude)
    const b = this.nthAllowed(j, exclude)
    if (a === undefined || b === undefined) return a ?? b
    return this.cost(b) < this.cost(a) ? b : a
  }

  /** Load of one endpoint as compared by the pick; lower is better. Here: (inFlight + 1) / weight. */
  protected cost(endpoint: Endpoint): number {
    return (this.load.inFlight(endpoint.id) + 1) / endpoint.weight
  }

  private countAllowed(exclude: ReadonlySet<string>): number {
    let count = 0
    for (const e of this.endpoints) if (!exclude.has(e.id)) count++
    return count
  }

  /** The `rank`-th endpoint not in `exclude` (O(1) without exclusions, else a scan). */
  private nthAllowed(rank: number, exclude: ReadonlySet<string> | undefined): Endpoint | undefined {
    if (exclude === undefined) return this.endpoints[rank]
    let seen = 0
    for (const e of this.endpoints) {
      if (exclude.has(e.id)) continue
      if (seen === rank) return e
      seen++
    }
    return undefined
  }
}
