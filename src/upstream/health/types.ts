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

/** Outcome of one probe. `reason` is what a transition reports: `status 503`, `timeout`, `ECONNREFUSED`, `NOT_SERVING`. */
export interface ProbeOutcome {
  success: boolean
  /** HTTP status, when a response arrived. */
  status?: number
  /** Why it failed (`timeout`, an errno code, `NOT_SERVING`); absent on success and for an HTTP probe's unexpected status. */
  error?: string
  reason: string
}

/** A probe in flight, as the checker stops it. */
export interface ProbeRequest {
  readonly destroyed: boolean
  destroy(): unknown
}
