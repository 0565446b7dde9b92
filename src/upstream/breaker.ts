/**
 * Circuit breaker for one endpoint in one worker, written as explicit states on the injected clock
 * (after linkerd2-proxy `breaker/consecutive_failures.rs`, with an error-rate trigger as in Envoy/Hystrix):
 *
 * - `closed`: every request flows; results go into a sliding window of `windowMs` split into buckets.
 *   When the window holds >= `minRequests` results and failures * 100 >= `errorRatePercent` * results,
 *   the circuit opens. `errorRatePercent <= 0` turns the trigger off (the concurrency limits still work).
 * - `open`: nothing flows for the open time. The first open time is `openMs`; each failed half-open round
 *   doubles it, up to `maxOpenMs` (default 8 * openMs); closing resets it to `openMs`.
 * - `half-open`: at most `halfOpenRequests` trial requests (at least 1) are let through in the round;
 *   when all of them succeed the circuit closes with an empty window, any failure opens it again.
 *
 * Open -> half-open needs no request: the state is evaluated lazily from the clock on `state`,
 * `allowRequest()` and `nextTransitionAt()`, and (unless `timers: false`) an unref'd timer armed at
 * every opening evaluates it at `nextTransitionAt()` so `onStateChange` listeners (the pool, which puts
 * the endpoint back in the ready set) hear it on time even when no request asks.
 *
 * Accepted race: results are not tied to the decision that admitted them. A result reported while the
 * circuit is open is ignored; one reported during half-open counts as a trial result only while a trial
 * is in flight, so a slow request admitted before the circuit opened may stand in for a trial.
 */
import type { Clock, CircuitEvent } from '../core/index.js'
import { circuitChannel, systemClock } from '../core/index.js'
import type { CircuitBreakerConfig } from '../config/index.js'

/** Circuit states; traffic flows when closed. Metrics encode them 0 closed, 1 half-open, 2 open. */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** A state change of one circuit. `at` is clock ms. */
export interface CircuitStateChange {
  endpoint: string
  state: CircuitState
  previous: CircuitState
  at: number
}

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  pool: string
  endpoint: string
  config: CircuitBreakerConfig
  clock?: Clock | undefined
  /** Buckets in the sliding window (default 10). */
  buckets?: number | undefined
  /** Longest open time after repeated failed half-open rounds, ms (default 8 * openMs). */
  maxOpenMs?: number | undefined
  /** Arm an unref'd timer for open -> half-open (default true). Virtual-time tests pass false. */
  timers?: boolean | undefined
}

/**
 * A counter with a ceiling: `tryAcquire()` takes a slot when one is free, `release()` gives it back.
 * `max <= 0` means unlimited (every acquire succeeds, `current` still counts).
 */
export class ConcurrencyLimit {
  /** Slots held now. */
  current = 0
  /** Acquires refused since creation. */
  rejected = 0

  constructor(readonly max: number) {}

  /** Takes a slot; false (and `rejected` + 1) when `max` slots are held. */
  tryAcquire(): boolean {
    if (this.max > 0 && this.current >= this.max) {
      this.rejected++
      return false
    }
    this.current++
    return true
  }

  /** Gives a slot back; extra releases are ignored (never below 0). */
  release(): void {
    if (this.current > 0) this.current--
  }
}

/** Results over the last `windowMs`, in `buckets` ring slots keyed by `floor(now / bucketMs)`. */
class ErrorWindow {
  private readonly bucketMs: number
  private readonly epochs: number[]
  private readonly totals: number[]
  private readonly failures: number[]

  constructor(windowMs: number, private readonly buckets: number) {
    this.bucketMs = Math.max(windowMs, 1) / buckets
    this.epochs = new Array<number>(buckets).fill(-Infinity)
    this.totals = new Array<number>(buckets).fill(0)
    this.failures = new Array<number>(buckets).fill(0)
  }

  record(now: number, success: boolean): void {
    const epoch = Math.floor(now / this.bucketMs)
    const i = epoch % this.buckets
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch
      this.totals[i] = 0
      this.failures[i] = 0
    }
    this.totals[i] = (this.totals[i] ?? 0) + 1
    if (!success) this.failures[i] = (this.failures[i] ?? 0) + 1
  }

  counts(now: number): { total: number; failures: number } {
    const oldest = Math.floor(now / this.bucketMs) - this.buckets
    let total = 0
    let failures = 0
    for (let i = 0; i < this.buckets; i++) {
      if ((this.epochs[i] ?? -Infinity) <= oldest) continue
      total += this.totals[i] ?? 0
      failures += this.failures[i] ?? 0
    }
    return { total, failures }
  }

  clear(): void {
    this.epochs.fill(-Infinity)
  }
}

/** Breaker and concurrency limits of one endpoint. See the file header for the state machine. */
export class CircuitBreaker {
  readonly pool: string
  readonly endpoint: string
  /** In-flight requests (`maxRequests`). */
  readonly requests: ConcurrencyLimit
  /** Requests waiting for a connection (`maxPending`). */
  readonly pending: ConcurrencyLimit
  /** Open connections (`maxConnections`). */
  readonly connections: ConcurrencyLimit
  private readonly config: CircuitBreakerConfig
  private readonly clock: Clock
  private readonly window: ErrorWindow
  private readonly maxOpenMs: number
  private readonly useTimers: boolean
  private readonly listeners = new Set<(change: CircuitStateChange) => void>()
  private current: CircuitState = 'closed'
  private openMs: number
  private openUntil = 0
  private trialsAdmitted = 0
  private trialsSucceeded = 0
  private timer: NodeJS.Timeout | undefined

  constructor(options: CircuitBreakerOptions) {
    const c = options.config
    this.pool = options.pool
    this.endpoint = options.endpoint
    this.config = c
    this.clock = options.clock ?? systemClock
    this.window = new ErrorWindow(c.windowMs, Math.max(1, Math.floor(options.buckets ?? 10)))
    this.openMs = Math.max(0, c.openMs)
    this.maxOpenMs = Math.max(options.maxOpenMs ?? 8 * this.openMs, this.openMs)
    this.useTimers = options.timers ?? true
    this.requests = new ConcurrencyLimit(c.maxRequests)
    this.pending = new ConcurrencyLimit(c.maxPending)
    this.connections = new ConcurrencyLimit(c.maxConnections)
  }

  /** Current state, after applying an elapsed open time. */
  get state(): CircuitState {
    this.refresh()
    return this.current
  }

  /**
   * May a request go to this endpoint now? Closed: yes. Open: no. Half-open: yes while a trial slot
   * is left (the slot is taken; report its result with `onResult` or `onAbandoned`).
   */
  allowRequest(): boolean {
    this.refresh()
    if (this.current === 'closed') return true
    if (this.current === 'open') return false
    if (this.trialsAdmitted >= this.trialLimit) return false
    this.trialsAdmitted++
    return true
  }

  /** Reports the outcome of a request admitted by `allowRequest()` (what counts as failure is the caller's choice). */
  onResult(success: boolean): void {
    this.refresh()
    const now = this.clock.now()
    if (this.current === 'closed') {
      this.window.record(now, success)
      if (!success && this.shouldTrip(now)) this.open(now)
    } else if (this.current === 'half-open' && this.trialsAdmitted > this.trialsSucceeded) {
      if (!success) {
        this.openMs = Math.min(this.openMs * 2, this.maxOpenMs)
        this.open(now)
      } else if (++this.trialsSucceeded >= this.trialLimit) {
        this.close(now)
      }
    }
  }

  /** A request admitted by `allowRequest()` ended without a verdict (client gone): frees its trial slot. */
  onAbandoned(): void {
    if (this.current === 'half-open' && this.trialsAdmitted > this.trialsSucceeded) this.trialsAdmitted--
  }

  /** Clock ms at which an open circuit turns half-open; undefined unless open. */
  nextTransitionAt(): number | undefined {
    this.refresh()
    return this.current === 'open' ? this.openUntil : undefined
  }

  /** Shortcut for `requests.tryAcquire()` (`maxRequests`, 0 = unlimited). */
  tryAcquire(): boolean {
    return this.requests.tryAcquire()
  }

  /** Shortcut for `requests.release()`. */
  release(): void {
    this.requests.release()
  }

  /** Results in the current window (admin/debug). */
  windowCounts(): { total: number; failures: number } {
    return this.window.counts(this.clock.now())
  }

  /** Listens to state changes. Returns an unsubscribe function. Listeners must not throw. */
  onStateChange(listener: (change: CircuitStateChange) => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** Clears the timer (the endpoint is gone). The breaker still works lazily afterwards. */
  dispose(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private get trialLimit(): number {
    return Math.max(1, Math.floor(this.config.halfOpenRequests))
  }

  private shouldTrip(now: number): boolean {
    const { errorRatePercent, minRequests } = this.config
    if (!(errorRatePercent > 0)) return false
    const { total, failures } = this.window.counts(now)
    return total >= Math.max(1, minRequests) && failures * 100 >= errorRatePercent * total
  }

  private refresh(): void {
    if (this.current !== 'open') return
    const now = this.clock.now()
    if (now < this.openUntil) return
    this.trialsAdmitted = 0
    this.trialsSucceeded = 0
    this.transition('half-open', now)
  }

  private open(now: number): void {
    this.openUntil = now + this.openMs
    this.transition('open', now)
    this.arm()
  }

  private close(now: number): void {
    this.openMs = Math.max(0, this.config.openMs)
    this.window.clear()
    this.transition('closed', now)
  }

  private arm(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (!this.useTimers) return
    const timer = setTimeout(() => {
      this.timer = undefined
      this.refresh()
      // A timer may run slightly before the clock says so: try again.
      if (this.current === 'open') this.arm()
    }, Math.max(0, this.openUntil - this.clock.now()))
    timer.unref()
    this.timer = timer
  }

  private transition(state: CircuitState, at: number): void {
    const previous = this.current
    this.current = state
    if (circuitChannel.hasSubscribers) {
      const event: CircuitEvent = { pool: this.pool, endpoint: this.endpoint, state }
      circuitChannel.publish(event)
    }
    const change: CircuitStateChange = { endpoint: this.endpoint, state, previous, at }
    for (const listener of [...this.listeners]) listener(change)
  }
}
