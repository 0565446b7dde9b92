/**
 * Retry policy pieces: which failures may be retried safely ({@link classifyRetry}), how many retries the
 * pool can afford ({@link RetryBudget}, after Envoy's retry budgets and linkerd's `RetryBudget`), and how
 * long to wait before one ({@link backoffMs}, "full jitter" from the AWS architecture blog).
 * Connect failures are retried for any method; other failures only for idempotent requests and
 * only before any response byte reached the client; always bounded by the budget.
 */
import type { Clock } from '../core/index.js'
import { systemClock } from '../core/index.js'
import type { RetryCondition } from '../config/index.js'

/** Methods RFC 9110 defines as idempotent: safe to send twice. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/**
 * How one try failed. `connect`: no connection could be made (refused, unreachable, connect timeout).
 * `endpoint-down`: the balancer cancelled a try still waiting for its answer because its endpoint left
 * rotation (unhealthy, ejected).
 */
export type RetryFailure = { kind: 'connect' } | { kind: 'reset' } | { kind: 'timeout' } | { kind: 'endpoint-down' } | { kind: 'status'; status: number; grpcStatus?: number }

/** What the proxy knows about the request when a try fails. */
export interface RetryRequestFacts {
  /** Request method, any case. */
  method: string
  /** The request carries an `Idempotency-Key` header (makes any method retryable). */
  hasIdempotencyKey: boolean
  /** A connection to the backend was established for this try (false = a connect failure, whatever the kind). */
  connectionEstablished: boolean
  /** Some response byte (status line included) already reached the client. */
  responseBytesSentToClient: boolean
  /** Request body bytes were already read from the client for this try (nothing is buffered: they cannot be replayed). */
  requestBodyStarted: boolean
}

/** Why a failure is not retried. */
export type NoRetryReason = 'response-started' | 'body-started' | 'not-listed' | 'not-idempotent' | 'not-unavailable'

/**
 * A retry decision. When `retry`, `reason` is the matching condition (`connect-failure`, `503`, ...) or
 * `endpoint-down`: the `lb_retries_total` label.
 */
export type RetryDecision = { retry: true; reason: RetryCondition | 'endpoint-down' | 'grpc-unavailable' } | { retry: false; reason: NoRetryReason }

/**
 * The condition of `on` a failure matches: `connect-failure` whenever no connection was established,
 * else `reset`, `timeout`, `502`/`503`/`504`, or `status:NNN` for any other status.
 */
export function retryConditionOf(failure: RetryFailure, connectionEstablished: boolean): RetryCondition {
  if (failure.kind === 'connect' || !connectionEstablished) return 'connect-failure'
  // A cancelled wait on a backend known to be gone is what a response timeout would have ended in.
  if (failure.kind === 'endpoint-down') return 'timeout'
  if (failure.kind !== 'status') return failure.kind
  const s = failure.status
  return s === 502 || s === 503 || s === 504 ? `${s}` : `status:${s}`
}

/** True when `on` lists `condition`; a status also matches its `status:NNN` spelling (`503` and `status:503`). */
function isListed(on: readonly RetryCondition[], condition: RetryCondition): boolean {
  if (on.includes(condition)) return true
  return /^50[234]$/.test(condition) && on.includes(`status:${condition}` as RetryCondition)
}

/**
 * Decides whether a failed try may be retried, in this order:
 * 1. never once a response byte reached the client (`response-started`);
 * 2. never once request body bytes were consumed (`body-started`: they cannot be sent again);
 * 3. only when the failure's condition is listed in `on` (`not-listed`; statuses count only when listed),
 *    except `endpoint-down`, which needs only an idempotent request;
 * 4. connect failures for any method; everything else only for idempotent methods or with an
 *    `Idempotency-Key` header (`not-idempotent`).
 * The budget is a separate check ({@link RetryBudget.tryAcquireRetry}), as is the attempt count.
 */
export function classifyRetry(on: readonly RetryCondition[], failure: RetryFailure, facts: RetryRequestFacts): RetryDecision {
  if (facts.responseBytesSentToClient) return { retry: false, reason: 'response-started' }
  if (facts.requestBodyStarted) return { retry: false, reason: 'body-started' }
  if (failure.kind === 'endpoint-down') {
    // The balancer's own cancellation, not a backend answer: retried whatever `on` lists, but only
    // when sending the request twice is safe (the backend may have acted on it already).
    if (!facts.hasIdempotencyKey && !IDEMPOTENT_METHODS.has(facts.method.toUpperCase())) return { retry: false, reason: 'not-idempotent' }
    return { retry: true, reason: 'endpoint-down' }
  }
  const condition = retryConditionOf(failure, facts.connectionEstablished)
  if (!isListed(on, condition)) return { retry: false, reason: 'not-listed' }
  if (condition === 'connect-failure') return { retry: true, reason: condition }
  if (!facts.hasIdempotencyKey && !IDEMPOTENT_METHODS.has(facts.method.toUpperCase())) return { retry: false, reason: 'not-idempotent' }
  return { retry: true, reason: condition }
}

/** gRPC's UNAVAILABLE status code (grpc/doc/statuscodes.md). */
const GRPC_UNAVAILABLE = 14

/**
 * Retry decision for a gRPC call (content type `application/grpc*`), which is always a POST and so never
 * idempotent by method: a call is retried only on what gRPC calls UNAVAILABLE, as gRPC clients' own
 * retry policies do, and only before any response byte reached the client:
 * - no connection (`connect-failure`, when listed in `on`);
 * - the connection or stream reset before response headers (`reset`, when listed);
 * - a trailers-only answer with `grpc-status: 14` (`grpc-unavailable`, always: the backend said so);
 * - HTTP 502/503/504 (the statuses gRPC maps to UNAVAILABLE), when listed.
 * Everything else is final: a timeout (DEADLINE_EXCEEDED, the backend may still act), any other
 * `grpc-status` or HTTP status (`not-unavailable`), and the balancer's endpoint-down cancellation.
 * `requestBodyStarted` must be false unless the whole request body is kept for replay.
 */
export function classifyGrpcRetry(on: readonly RetryCondition[], failure: RetryFailure, facts: RetryRequestFacts): RetryDecision {
  if (facts.responseBytesSentToClient) return { retry: false, reason: 'response-started' }
  if (facts.requestBodyStarted) return { retry: false, reason: 'body-started' }
  if (failure.kind === 'status' && failure.grpcStatus !== undefined) {
    return failure.grpcStatus === GRPC_UNAVAILABLE ? { retry: true, reason: 'grpc-unavailable' } : { retry: false, reason: 'not-unavailable' }
  }
  if (failure.kind === 'timeout' && facts.connectionEstablished) return { retry: false, reason: 'not-unavailable' }
  if (failure.kind === 'endpoint-down') return { retry: false, reason: 'not-unavailable' }
  const condition = retryConditionOf(failure, facts.connectionEstablished)
  if (condition !== 'connect-failure' && condition !== 'reset' && condition !== '502' && condition !== '503' && condition !== '504') {
    return { retry: false, reason: 'not-unavailable' }
  }
  return isListed(on, condition) ? { retry: true, reason: condition } : { retry: false, reason: 'not-listed' }
}

/**
 * Delay before retry number `attempt` (1 = first retry), ms: uniform in `[0, min(maxMs, baseMs * 2^(attempt-1)))`
 * ("full jitter"). `attempt < 1` counts as 1; `baseMs <= 0` gives 0; `maxMs <= 0` means no ceiling.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  if (!(baseMs > 0)) return 0
  const exponent = Math.min(Math.max(Math.floor(attempt), 1) - 1, 30)
  const ceiling = maxMs > 0 ? Math.min(maxMs, baseMs * 2 ** exponent) : baseMs * 2 ** exponent
  return random() * ceiling
}

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Concurrent retries allowed as a share of active requests, percent (e.g. 20). */
  budgetPercent: number
  /** Retries always allowed per second, whatever the share (e.g. 10); 0 = no floor. */
  minRetriesPerSecond: number
  clock?: Clock | undefined
}

/** Longest floor tracked (memory bound of the per-second ring). */
const MAX_FLOOR = 10_000

/**
 * Limits retries of one pool (in one worker) so a struggling backend is not hit by a retry storm.
 * A retry is granted when either
 * - `retriesInFlight + 1 <= budgetPercent / 100 * activeRequests` (Envoy: concurrent retries as a share
 *   of active requests), or
 * - fewer than `minRetriesPerSecond` retries were granted in the last 1000 ms (the floor keeps
 *   low-traffic pools retrying).
 * Callers: `requestStarted()`/`requestFinished()` once per client request (not per try);
 * `tryAcquireRetry()` before each retry and `releaseRetry()` when that retry ends.
 * The caller grants some retries outside the budget (`unrationed`): after a refused connection (nothing
 * reached a backend), and after a failure that took its endpoint out of rotation (no new request goes
 * there, so the retries are bounded by what it had in flight). They are still counted, and bounded by
 * `attempts`.
 */
export class RetryBudget {
  /** Client requests in flight. */
  activeRequests = 0
  /** Granted retries not released yet. */
  retriesInFlight = 0
  /** Retries granted since creation. */
  granted = 0
  /** Retries refused for lack of budget since creation. */
  exhausted = 0
  private readonly ratio: number
  private readonly clock: Clock
  /** Clock ms of the last `floor` grants, a ring; the slot at `next` is the oldest. */
  private readonly recent: number[]
  private next = 0

  constructor(options: RetryBudgetOptions) {
    this.ratio = Math.max(0, options.budgetPercent) / 100
    this.clock = options.clock ?? systemClock
    const floor = Math.min(Math.max(Math.floor(options.minRetriesPerSecond), 0), MAX_FLOOR)
    this.recent = new Array<number>(floor).fill(-Infinity)
  }

  /** A client request started. */
  requestStarted(): void {
    this.activeRequests++
  }

  /** A client request finished (any outcome). Never goes below 0. */
  requestFinished(): void {
    if (this.activeRequests > 0) this.activeRequests--
  }

  /** Takes a retry from the budget; false (and `exhausted` + 1) when none is left. `unrationed`: grant it anyway. */
  tryAcquireRetry(unrationed = false): boolean {
    if (unrationed) {
      this.retriesInFlight++
      this.granted++
      return true
    }
    const now = this.clock.now()
    const byShare = this.retriesInFlight + 1 <= this.ratio * this.activeRequests
    const oldest = this.recent[this.next]
    const byFloor = oldest !== undefined && now - oldest >= 1_000
    if (!byShare && !byFloor) {
      this.exhausted++
      return false
    }
    if (this.recent.length > 0) {
      this.recent[this.next] = now
      this.next = (this.next + 1) % this.recent.length
    }
    this.retriesInFlight++
    this.granted++
    return true
  }

  /** A granted retry ended. Never goes below 0. */
  releaseRetry(): void {
    if (this.retriesInFlight > 0) this.retriesInFlight--
  }
}
