/**
 * Slow start: an endpoint that just became ready again (recovered, returned from ejection, added)
 * gets a share of its weight that grows linearly over `windowMs`, so a cold backend is not flooded
 * (nginx `slow_start`, Envoy `slow_start_config` with aggression 1). The pool re-applies the weight
 * a few times during the window (weights reach balancers only on change, never per request).
 */

/**
 * Effective weight `elapsedMs` after the endpoint became ready: a linear ramp from
 * `minShare * weight` at 0 to `weight` at `windowMs`.
 * - `windowMs <= 0` (slow start off) or `elapsedMs >= windowMs`: `weight`.
 * - `elapsedMs < 0` counts as 0; `minShare` is clamped to [0, 1] (default 0.1).
 * - The result is fractional; a weight of 0 stays 0. Callers needing integers round up, so a ramping
 *   endpoint never drops to 0.
 * @param weight configured weight
 * @param elapsedMs ms since the endpoint became ready (not a timestamp)
 * @param windowMs length of the ramp, ms
 */
export function slowStartWeight(weight: number, elapsedMs: number, windowMs: number, minShare = 0.1): number {
  if (!isRamping(elapsedMs, windowMs)) return weight
  const share = Math.min(Math.max(minShare, 0), 1)
  const progress = Math.max(elapsedMs, 0) / windowMs
  return weight * (share + (1 - share) * progress)
}

/** True while an endpoint ready for `elapsedMs` is still inside a slow-start window of `windowMs` (> 0). */
export function isRamping(elapsedMs: number, windowMs: number): boolean {
  return windowMs > 0 && elapsedMs < windowMs
}
