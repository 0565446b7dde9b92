/** Time source, injected so tests can run on virtual time. */
export interface Clock {
  /** Milliseconds, monotonic within a process. */
  now(): number
}

/** The real monotonic clock (performance.now based). */
export const systemClock: Clock = { now: () => performance.now() }

/** Default randomness: `Math.random`. Tests inject a seeded generator instead. */
export const systemRandom = (): number => Math.random()

/**
 * Small seeded PRNG (mulberry32) for tests and reproducible simulations.
 * Returns floats in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
