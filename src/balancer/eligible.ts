/**
 * Helpers shared by the algorithms: which endpoints may ever be picked, and the per-pick `exclude` test.
 * Everything here that allocates runs from `reset()`, never from `pick()`.
 */
import type { Endpoint, PickContext } from '../core/index.js'

/**
 * True when an endpoint can carry traffic at all: its weight is a finite number above 0.
 * Zero, negative, NaN and infinite weights are never picked by any algorithm.
 */
export function hasPositiveWeight(endpoint: Endpoint): boolean {
  return endpoint.weight > 0 && Number.isFinite(endpoint.weight)
}

/** The endpoints of a ready set that can ever be picked (positive weight), in the given order. Allocates. */
export function eligibleEndpoints(ready: readonly Endpoint[]): Endpoint[] {
  return ready.filter(hasPositiveWeight)
}

/** The `exclude` set of a pick when it is non-empty, else undefined (so the fast path is one check). */
export function excludeSet(ctx: PickContext): ReadonlySet<string> | undefined {
  const exclude = ctx.exclude
  return exclude !== undefined && exclude.size > 0 ? exclude : undefined
}

/**
 * Turns a `random()` float in [0, 1) into an index in [0, n). Clamps a stray 1.0 (or a generator that
 * misbehaves) into range so an injected `random` can never make a pick read out of bounds.
 */
export function randomIndex(random: () => number, n: number): number {
  const i = Math.floor(random() * n)
  return i >= 0 && i < n ? i : i >= n ? n - 1 : 0
}

/**
 * Weighted random choice among `endpoints` that are not in `exclude`: O(n), no allocation.
 * Returns undefined when every endpoint is excluded (or the list is empty).
 * Used on the retry path (`exclude` non-empty) and as the consistent-hash fallback.
 */
export function weightedRandomExcluding(
  endpoints: readonly Endpoint[],
  exclude: ReadonlySet<string> | undefined,
  random: () => number,
): Endpoint | undefined {
  let total = 0
  for (const e of endpoints) if (exclude === undefined || !exclude.has(e.id)) total += e.weight
  if (total <= 0) return undefined
  let r = random() * total
  let last: Endpoint | undefined
  for (const e of endpoints) {
    if (exclude !== undefined && exclude.has(e.id)) continue
    last = e
    r -= e.weight
    if (r < 0) return e
  }
  return last // float rounding left r at ~0: the last eligible endpoint owns the end of the range
}
