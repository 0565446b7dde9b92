import { retryChannel, systemRandom } from '../core/index.js'
import type { RetryConfig } from '../config/index.js'
import { backoffMs, classifyGrpcRetry, classifyRetry, type RetryDecision, type RetryFailure, type RetryBudget } from './retry.js'
import type { TryOutcome } from './try-outcome.js'

/** What the gate needs from the pool a request goes to. */
export interface RetryGatePool {
  readonly name: string
  readonly config: { readonly retries: RetryConfig }
  readonly retryBudget: RetryBudget
}

/** One failed try, as the gate judges it. */
export interface FailedTry {
  outcome: TryOutcome
  /** The status of a `5xx` outcome. */
  status?: number | undefined
  /** The `grpc-status` of a gRPC trailers-only answer (a `5xx` outcome whatever its HTTP status). */
  grpcStatus?: number | undefined
  /** A gRPC call: retried on UNAVAILABLE only ({@link classifyGrpcRetry}). */
  grpc?: boolean | undefined
  /** The endpoint it went to (for the retry event). */
  endpoint: string
  /** Tries sent so far for this request, this one included. */
  tries: number
  /** A `connect` failure refused or unreachable at once: it cost no backend anything. */
  refused: boolean
  /** The try's endpoint is still in rotation (false after the failure ejected it or marked it unhealthy). */
  endpointReady: boolean
  /** Some response byte already reached the client. */
  responseStarted: boolean
  /** Request body bytes were already pulled from the client for this try. */
  bodyStarted: boolean
}

/**
 * The retry policy of one client request (after Envoy's per-request `RetryState`): it counts the request
 * in its pool's retry budget from creation to {@link close}, and {@link judge} decides, once per failed
 * try, whether another try may follow: within `retries.attempts`, by {@link classifyRetry}, and only when
 * the budget grants it. Granted retries are held until the request ends, then given back together.
 */
export class RetryGate {
  private granted = 0
  private closed = false

  constructor(
    private readonly pool: RetryGatePool,
    private readonly method: string,
    private readonly hasIdempotencyKey: boolean,
    private readonly requestId: string,
  ) {
    pool.retryBudget.requestStarted()
  }

  /**
   * Whether the request may be tried again after `failed`. A grant is counted in the budget and published
   * on the retry channel (`lb_retries_total{reason}`); a refusal costs nothing.
   */
  judge(failed: FailedTry): RetryDecision | undefined {
    const policy = this.pool.config.retries
    if (this.closed || failed.tries >= policy.attempts) return undefined
    const failure = retryFailureOf(failed.outcome, failed.status, failed.grpcStatus)
    if (failure === undefined) return undefined
    const decision = (failed.grpc === true ? classifyGrpcRetry : classifyRetry)(policy.on, failure, {
      method: this.method,
      hasIdempotencyKey: this.hasIdempotencyKey,
      connectionEstablished: failed.outcome !== 'connect' && failed.outcome !== 'upstream-tls',
      responseBytesSentToClient: failed.responseStarted,
      requestBodyStarted: failed.bodyStarted,
    })
    if (!decision.retry) return decision
    // Not rationed: a retry after a refused connection (it cost no backend anything), and one after a
    // failure that left its endpoint out of rotation (ejected, unhealthy). A backend killed under load
    // fails everything it had in flight at once, more than the budget's share; none of it may be lost,
    // and nothing new goes to it, so these retries are bounded by what it held: no storm to ration.
    const unrationed = failed.refused || !failed.endpointReady
    if (!this.pool.retryBudget.tryAcquireRetry(unrationed)) return undefined
    this.granted++
    if (retryChannel.hasSubscribers) {
      retryChannel.publish({ pool: this.pool.name, endpoint: failed.endpoint, reason: decision.reason, requestId: this.requestId })
    }
    return decision
  }

  /**
   * How long to wait before the next try, ms: none when an endpoint not tried yet can take it, else a
   * jittered exponential backoff (the same endpoint again; `tries` sent so far).
   */
  delayMs(tries: number, hasUntriedEndpoint: boolean): number {
    if (hasUntriedEndpoint) return 0
    const r = this.pool.config.retries
    return backoffMs(tries, r.backoffBaseMs, r.backoffMaxMs, systemRandom)
  }

  /** The request ended (any outcome): it leaves the budget and gives back its retries. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    const budget = this.pool.retryBudget
    budget.requestFinished()
    for (; this.granted > 0; this.granted--) budget.releaseRetry()
  }
}

/** The retry policy's view of an outcome; undefined for outcomes never retried (the client left, a limit). */
function retryFailureOf(outcome: TryOutcome, status: number | undefined, grpcStatus: number | undefined): RetryFailure | undefined {
  switch (outcome) {
    case 'connect':
    case 'upstream-tls': // the handshake failed: the backend never saw the request
      return { kind: 'connect' }
    case 'timeout':
      return { kind: 'timeout' }
    case 'reset':
    case 'protocol':
      return { kind: 'reset' }
    case '5xx':
      return grpcStatus === undefined ? { kind: 'status', status: status ?? 502 } : { kind: 'status', status: status ?? 200, grpcStatus }
    case 'endpoint-down':
      return { kind: 'endpoint-down' }
    default:
      return undefined
  }
}
