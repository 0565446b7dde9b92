/**
 * Counted checks for real-time rate-limit floods. How many requests a token bucket lets through depends on
 * how long the flood really lasted and on how many requests really arrived, and both stretch on a loaded
 * machine. So the claim is checked against what was measured, never against a fixed total:
 * - never more than the bucket could hold plus what it refilled in the measured time, with 10 % for the
 *   tokens leased ahead and in flight (a limiter that counts per worker or per instance instead of
 *   sharing one bucket lets twice as many through and fails);
 * - at least half of what the bucket could give in that time, or of the requests sent when fewer were
 *   sent (a limiter that stops refilling, or refills at a fraction of its rate, fails). Half, not 90 %:
 *   tokens reach a worker in leases once per lease interval, and a starved event loop stretches that
 *   interval while the shared bucket stays capped at its burst. The rate itself to 10 % is proven on
 *   virtual time (`src/ratelimit/*.test.ts` with `flood.suite.ts`), where the machine cannot interfere.
 */
import assert from 'node:assert/strict'

/** What a flood measured, and the policy it ran against. */
export interface FloodCount {
  /** Requests let through. */
  allowed: number
  /** Requests decided (let through or refused). */
  sent: number
  /** From the first request to the last decision, ms (measured, not the flood's planned length). */
  elapsedMs: number
  ratePerSecond: number
  burst: number
}

/** The most and the fewest a correct limiter lets through in the measured flood. */
export function rateBounds(c: FloodCount): { most: number; fewest: number } {
  const refill = (c.ratePerSecond * c.elapsedMs) / 1000
  const most = Math.floor(c.burst + refill * 1.1)
  const fewest = Math.ceil(Math.min(c.sent, c.burst + refill) * 0.5)
  return { most, fewest }
}

/** Asserts both bounds of {@link rateBounds}; `label` says which flood failed. */
export function assertRateHeld(c: FloodCount, label: string): void {
  const { most, fewest } = rateBounds(c)
  const facts = `${label}: ${c.allowed} allowed of ${c.sent} in ${Math.round(c.elapsedMs)} ms (burst ${c.burst}, ${c.ratePerSecond}/s: at most ${most}, at least ${fewest})`
  console.log(facts)
  assert.ok(c.allowed <= most, `overspent: ${facts}`)
  assert.ok(c.allowed >= fewest, `underspent: ${facts}`)
}
