/**
 * Shared test harness: a flood against several simulated workers on virtual time, with a transport that
 * delivers messages after a virtual delay. Used by the limiter and token source tests.
 */
import type { Clock } from '../core/index.js'
import type { RouteRateLimiter } from './route-rate-limiter.js'
import type { LeaseBatch, LeaseGrant, TokenSource } from './token-source.js'

/** A virtual clock plus a queue of timed callbacks. */
export class VirtualTime implements Clock {
  private t = 0
  private queue: { at: number; seq: number; fn: () => void }[] = []
  private seq = 0

  now(): number {
    return this.t
  }

  /** Runs `fn` once the clock reaches now + delayMs. */
  schedule(delayMs: number, fn: () => void): void {
    this.queue.push({ at: this.t + delayMs, seq: this.seq++, fn })
  }

  /** Moves to `t`, running due callbacks in order and letting promise chains settle after each. */
  async advanceTo(t: number): Promise<void> {
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.queue[0]
      if (next === undefined || next.at > t) break
      this.queue.shift()
      this.t = Math.max(this.t, next.at)
      next.fn()
      await settle()
    }
    this.t = t
    await settle()
  }
}

/** Lets pending promise callbacks run (several hops). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** A TokenSource that reaches `target` after `delayMs` of virtual time each way. */
export class DelayedSource implements TokenSource {
  constructor(
    private readonly time: VirtualTime,
    private readonly target: TokenSource,
    private readonly delayMs: number,
  ) {}

  lease(batch: LeaseBatch): Promise<LeaseGrant[]> {
    return new Promise((resolve, reject) => {
      this.time.schedule(this.delayMs, () => {
        this.target.lease(batch).then(
          (g) => this.time.schedule(this.delayMs, () => resolve(g)),
          (e: unknown) => this.time.schedule(this.delayMs, () => reject(e instanceof Error ? e : new Error(String(e)))),
        )
      })
    })
  }
}

/** Result of {@link flood}. */
export interface FloodResult {
  allowed: number
  refused: number
  perWorker: number[]
}

/**
 * Sends `perMs` requests per virtual millisecond to each limiter for `durationMs`, all for `key`, and calls each
 * limiter's `flush()` every `leaseIntervalMs` (staggered per worker). Counts the decisions.
 */
export async function flood(time: VirtualTime, limiters: RouteRateLimiter[], options: { durationMs: number; perMs: number; key?: string }): Promise<FloodResult> {
  const key = options.key ?? 'client'
  const start = time.now()
  const perWorker = limiters.map(() => 0)
  let refused = 0
  for (let ms = 0; ms < options.durationMs; ms++) {
    await time.advanceTo(start + ms)
    limiters.forEach((l, w) => {
      const phase = Math.floor((w * l.leaseIntervalMs) / limiters.length)
      if (ms % l.leaseIntervalMs === phase) void l.flush()
      for (let i = 0; i < options.perMs; i++) {
        if (l.check(key).allowed) perWorker[w] = (perWorker[w] ?? 0) + 1
        else refused++
      }
    })
  }
  await time.advanceTo(start + options.durationMs)
  return { allowed: perWorker.reduce((a, b) => a + b, 0), refused, perWorker }
}
