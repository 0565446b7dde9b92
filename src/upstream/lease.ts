import type { Dispatcher } from 'undici'
import type { Endpoint } from '../core/index.js'
import type { EndpointState, WaitingTry } from './endpoint-state.js'
import { verdictOf, type BackendVerdict, type TryOutcome } from './try-outcome.js'

/** What a lease reports its verdict to: the pool that granted it. */
export interface LeaseGrantor {
  /** Feeds the breaker and passive checks once per try. */
  judge(state: EndpointState, verdict: BackendVerdict): void
  /** Frees the breaker's concurrency slot. */
  free(state: EndpointState): void
}

/**
 * One try's hold on one endpoint, from admission to its end: the only way the proxy reaches a backend
 * (plain requests and tunnels alike). While it lives the endpoint counts it in flight and it holds a
 * breaker slot (`maxRequests`, half-open trial); {@link end} gives both back exactly once, whatever
 * path the try took, so a slot cannot leak. The latency signal ({@link firstByte}) and the verdict on
 * the backend ({@link report}) go through it too.
 *
 * Until its first response byte a lease is *waiting*: when its endpoint leaves rotation (unhealthy,
 * ejected) the pool calls {@link onEndpointDown} so the owner can cancel the try and retry it elsewhere
 * instead of waiting out a response timeout on a backend known to be gone.
 */
export class Lease implements WaitingTry {
  private sentAtMs = 0
  /** Called (at most once) when the endpoint leaves rotation before this try got a response byte. */
  onEndpointDown: (() => void) | undefined
  private judged = false
  private ended = false

  constructor(
    private readonly grantor: LeaseGrantor,
    /** The endpoint's state; read-only for the holder. */
    readonly state: EndpointState,
    /**
     * Cookie stickiness: the endpoint's tag, when the client's cookie did not already name it (a new or
     * moved session), for the response to (re)pin the client; otherwise undefined.
     */
    readonly stickyTag?: string | undefined,
  ) {
    state.stats.inFlight++
    state.waiting.add(this)
  }

  /** The try is being sent now: the latency sample ({@link firstByte}) starts here. */
  sent(): void {
    this.sentAtMs = performance.now()
  }

  /** `performance.now()` when the try was sent (0 before {@link sent}). */
  get sentAt(): number {
    return this.sentAtMs
  }

  /** The endpoint this lease holds. */
  get endpoint(): Endpoint {
    return this.state.endpoint
  }

  /** The endpoint's keep-alive connection pool. */
  get dispatcher(): Dispatcher {
    return this.state.dispatcher
  }

  /** True until the first response byte (or the end): the try may still be cancelled and sent elsewhere. */
  get isWaiting(): boolean {
    return !this.ended && this.state.waiting.has(this)
  }

  /** The response head arrived: records the time-to-first-byte sample; the try is no longer cancellable. */
  firstByte(): void {
    if (this.ended) return
    this.state.waiting.delete(this)
    const now = performance.now()
    this.state.stats.observeLatency(now - this.sentAtMs, now)
  }

  /**
   * The verdict on the backend, for the breaker and passive checks; only the first one counts. Tunnels
   * report it when the backend answers, long before the tunnel (and the lease) ends.
   */
  report(outcome: TryOutcome): void {
    if (this.judged) return
    this.judged = true
    this.grantor.judge(this.state, verdictOf(outcome))
  }

  /** Ends the try: reports `outcome` unless already reported, frees the slot and the in-flight count. Idempotent. */
  end(outcome: TryOutcome): void {
    if (this.ended) return
    this.ended = true
    this.onEndpointDown = undefined
    const state = this.state
    // Out of the waiting set before the verdict: a failure that ejects the endpoint cancels the
    // other tries waiting there, not this one.
    state.waiting.delete(this)
    this.report(outcome)
    state.stats.inFlight--
    state.stats.completed++
    this.grantor.free(state)
  }

  /** Called by the pool when the endpoint leaves rotation while this try waits for its answer. */
  endpointDown(): void {
    const cb = this.onEndpointDown
    this.onEndpointDown = undefined
    cb?.()
  }
}
