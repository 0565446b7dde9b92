/**
 * Per-endpoint load signals read by the balancers: in-flight requests and a peak-EWMA latency.
 * Peak EWMA (Finagle / linkerd): a sample above the average replaces it at once (react to slowness
 * immediately), a sample below decays into it with time constant `decayMs` (recover gradually).
 */
export class EndpointStats {
  /** Requests dispatched to this endpoint by this worker and not finished yet. */
  inFlight = 0
  /** Latency estimate, ms. Starts at `initialMs` so new endpoints are neither favoured nor shunned. */
  ewmaMs: number
  /** Requests completed (any outcome) since start. */
  completed = 0
  private lastSampleAt = 0

  constructor(
    private readonly decayMs = 10_000,
    initialMs = 1,
  ) {
    this.ewmaMs = initialMs
  }

  /** Records one time-to-first-byte sample (ms) taken at `nowMs`. */
  observeLatency(sampleMs: number, nowMs: number): void {
    if (sampleMs > this.ewmaMs) {
      this.ewmaMs = sampleMs
    } else {
      const elapsed = Math.max(nowMs - this.lastSampleAt, 0)
      const w = Math.exp(-elapsed / this.decayMs)
      this.ewmaMs = this.ewmaMs * w + sampleMs * (1 - w)
    }
    this.lastSampleAt = nowMs
  }
}
