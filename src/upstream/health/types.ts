import type { Endpoint, HealthTransition } from '../../core/index.js'

/**
 * Active health checking of one pool. Reports transitions only; `upstream/pool.ts` applies them
 * (this folder never reaches into selection).
 */
export interface HealthChecker {
  /**
   * Starts probing `endpoints`. Calling it again replaces the list: added endpoints start probing at
   * once, removed ones stop (their probe in flight is aborted), survivors keep their state and schedule.
   */
  start(endpoints: readonly Endpoint[]): void
  /** Stops every probe and timer; resolves once no probe socket is left open. Idempotent. */
  stop(): Promise<void>
  /** Fires only when rise/fall thresholds flip the state. Returns an unsubscribe function. */
  onTransition(listener: (t: HealthTransition) => void): () => void
}
