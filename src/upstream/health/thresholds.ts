/**
 * Rise/fall thresholds: the tiny state machine between raw probe results and a health state.
 *
 * Shape taken from Pingora `Health::observe_health` (health_check.rs) and Envoy's `HealthTransition`:
 * results that agree with the current state reset the streak; results that disagree extend it, and the
 * state flips only when the streak reaches `rise` (to healthy) or `fall` (to unhealthy). `observe`
 * reports "flipped", so the caller acts on edges, never on levels.
 */
export class HealthThresholds {
  /** Consecutive successes needed to turn healthy (at least 1). */
  readonly rise: number
  /** Consecutive failures needed to turn unhealthy (at least 1). */
  readonly fall: number
  private isHealthyNow: boolean
  private streak = 0

  /**
   * @param rise consecutive successes to turn healthy; values below 1 (or NaN) act as 1, fractions round down.
   * @param fall consecutive failures to turn unhealthy; same rules.
   * @param initiallyHealthy state before the first result (default true: a new endpoint takes traffic
   *   until `fall` failures say otherwise).
   */
  constructor(rise: number, fall: number, initiallyHealthy = true) {
    this.rise = atLeastOne(rise)
    this.fall = atLeastOne(fall)
    this.isHealthyNow = initiallyHealthy
  }

  /** Current state. */
  get healthy(): boolean {
    return this.isHealthyNow
  }

  /**
   * Results seen in a row that disagree with the current state (0 when the last result agreed).
   * Envoy calls a non-zero value "ChangePending".
   */
  get pending(): number {
    return this.streak
  }

  /**
   * Feeds one result. Returns true exactly when this result flipped the state; the streak then
   * starts again from 0, so a flip needs a full `rise` or `fall` run from the new state.
   */
  observe(success: boolean): boolean {
    if (success === this.isHealthyNow) {
      this.streak = 0
      return false
    }
    this.streak++
    if (this.streak < (success ? this.rise : this.fall)) return false
    this.isHealthyNow = success
    this.streak = 0
    return true
  }

  /** Forces a state (e.g. an operator override or state learned from another instance); clears the streak. */
  reset(healthy: boolean): void {
    this.isHealthyNow = healthy
    this.streak = 0
  }
}

function atLeastOne(n: number): number {
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : 1
}
