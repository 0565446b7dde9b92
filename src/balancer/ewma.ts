/**
 * Peak-EWMA: prefer the endpoint expected to answer soonest. Each endpoint's cost is its latency
 * estimate times the queue a new request would join, divided by its weight:
 * `cost = ewmaMs * (inFlight + 1) / weight`; two distinct random endpoints are compared (P2C) and the
 * cheaper one wins. "Peak" EWMA (kept by `upstream/endpoint-stats.ts`) jumps up at once on a slow
 * sample and decays slowly, so a degrading endpoint is shunned quickly and re-admitted gradually.
 *
 * Source: Finagle / linkerd "Peak EWMA" (https://linkerd.io/2016/03/16/beyond-round-robin-load-balancing-for-latency/),
 * linkerd2-proxy `linkerd/proxy/balance` (PeakEwma + p2c); selection as in {@link P2cBalancer}.
 * Cost per pick: O(1) (two `random()` calls, two pairs of load reads); O(n) when `ctx.exclude` is
 * non-empty; no allocation.
 * Load signals: `EndpointLoad.ewmaMs(id)` (ms) and `EndpointLoad.inFlight(id)`.
 */
import type { Endpoint } from '../core/index.js'
import { P2cBalancer } from './p2c.js'

/**
 * Latency floor in ms applied to `ewmaMs` (also replaces a NaN or negative estimate), so that an
 * endpoint reporting 0 ms is still told apart from its peers by its in-flight count.
 */
export const EWMA_FLOOR_MS = 0.001

/**
 * P2C on peak-EWMA latency weighted by in-flight requests. Same edges as {@link P2cBalancer}: one
 * eligible endpoint is returned as is, none gives undefined.
 */
export class EwmaBalancer extends P2cBalancer {
  /** `max(ewmaMs, EWMA_FLOOR_MS) * (inFlight + 1) / weight`, in ms per unit of weight; lower wins. */
  protected override cost(endpoint: Endpoint): number {
    const ewmaMs = this.load.ewmaMs(endpoint.id)
    const latencyMs = ewmaMs > EWMA_FLOOR_MS ? ewmaMs : EWMA_FLOOR_MS
    return (latencyMs * (this.load.inFlight(endpoint.id) + 1)) / endpoint.weight
  }
}
