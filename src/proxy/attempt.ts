import type { Dispatcher } from 'undici'
import { upstreamErrorChannel, type ErrorCode } from '../core/index.js'
import type { EndpointState, TryOutcome, UpstreamPool } from '../upstream/index.js'
import { copyResponseHeaders } from './headers.js'
import { noteRelayedBytes } from './relay-memory.js'
import type { ClientResponse } from './client-message.js'

/** Why a try failed, in the terms retry decisions and error responses need. */
export interface AttemptFailure {
  code: ErrorCode
  /**
   * connect: never reached the backend; reset/timeout/protocol: after connecting; status: a
   * retryable 5xx whose body was dropped; client: the client went away; limit: the body grew too large.
   */
  kind: 'connect' | 'reset' | 'timeout' | 'protocol' | 'status' | 'client' | 'limit'
  status?: number
  /** Request body bytes were already pulled from the client for this try (it cannot be replayed). */
  bodyStarted: boolean
  /** A `connect` failure that was refused or unreachable at once (not a connect timeout). */
  refused?: boolean
}

/** The exchange an attempt reports to. */
export interface AttemptOwner {
  readonly res: ClientResponse
  readonly requestId: string
  readonly responseRemovals: ReadonlySet<string> | undefined
  bytesOut: number
  onAttemptFailed(a: Attempt, failure: AttemptFailure): void
  /** Returns false when the response must not be forwarded (client gone, stale try). */
  onResponseStart(a: Attempt, status: number, headers: string[]): boolean
  /** `trailers`: the backend's trailer fields as a flat name/value list (empty when none). */
  onResponseEnd(a: Attempt, trailers: readonly string[]): void
  onResponseAborted(a: Attempt, code: ErrorCode): void
  /** Whether a response with this status should be dropped and the request retried. */
  shouldRetryStatus(a: Attempt, status: number): boolean
}

/**
 * One try of a request against one endpoint: an undici dispatch handler that streams the response
 * to the client with back-pressure (undici pauses the socket while `res.write` is full). Its end
 * releases the endpoint's admission slot and feeds the breaker and passive checks exactly once.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  sentAt = 0
  bodyStarted = false
  private abortFn: ((err: Error) => void) | undefined
  private settled = false
  private forwarding = false
  private status = 0
  private discardStatus = 0
  private abortRequested = false
  private resumeFn: (() => void) | undefined

  constructor(
    private readonly owner: AttemptOwner,
    readonly pool: UpstreamPool,
    readonly state: EndpointState,
  ) {}

  /** Cancels the try (client went away). */
  abort(): void {
    this.abortRequested = true
    this.abortFn?.(new Error('client closed the connection'))
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort
    if (this.abortRequested) abort(new Error('client closed the connection'))
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true // 1xx informational: the final response follows
    const now = performance.now()
    this.state.stats.observeLatency(now - this.sentAt, now)
    this.status = statusCode
    if (this.owner.shouldRetryStatus(this, statusCode)) {
      this.discardStatus = statusCode // read and drop the body, keeping the connection
      return true
    }
    const headers = copyResponseHeaders(rawHeaders, this.owner.responseRemovals)
    if (!this.owner.onResponseStart(this, statusCode, headers)) {
      this.abort()
      return false
    }
    this.forwarding = true
    this.resumeFn = resume
    return true
  }

  onData(chunk: Buffer): boolean {
    if (!this.forwarding) return true
    this.owner.bytesOut += chunk.length
    noteRelayedBytes(chunk.length)
    const res = this.owner.res
    if (res.write(chunk)) return true
    // The closure is made only under back-pressure, not for every try.
    res.once('drain', () => this.resumeFn?.())
    return false
  }

  onComplete(trailers?: readonly (string | Buffer)[] | null): void {
    if (!this.settle(this.status >= 500 ? '5xx' : 'success')) return
    if (this.discardStatus !== 0) {
      this.owner.onAttemptFailed(this, { code: 'LB_ERR_UPSTREAM_PROTOCOL', kind: 'status', status: this.discardStatus, bodyStarted: this.bodyStarted })
    } else if (this.forwarding) {
      this.owner.onResponseEnd(this, trailers == null || trailers.length === 0 ? NO_TRAILERS : trailers.map(String))
    }
  }

  onError(err: Error): void {
    // Our own abort (the client went away) says nothing about the backend: no passive-check failure.
    const failure: AttemptFailure = this.abortRequested
      ? { code: 'LB_ERR_CLIENT_ABORTED', kind: 'client', bodyStarted: this.bodyStarted }
      : classify(err, this.bodyStarted)
    if (!this.settle(outcomeOf(failure))) return
    if (failure.kind !== 'client' && failure.kind !== 'limit' && upstreamErrorChannel.hasSubscribers) {
      upstreamErrorChannel.publish({
        pool: this.pool.name,
        endpoint: this.state.endpoint.id,
        kind: failure.kind === 'status' ? 'protocol' : failure.kind,
        requestId: this.owner.requestId,
      })
    }
    if (this.forwarding) this.owner.onResponseAborted(this, failure.code)
    else this.owner.onAttemptFailed(this, failure)
  }

  private settle(outcome: TryOutcome | 'abandoned'): boolean {
    if (this.settled) return false
    this.settled = true
    const stats = this.state.stats
    stats.inFlight--
    stats.completed++
    this.pool.release(this.state, outcome)
    return true
  }
}

const NO_TRAILERS: readonly string[] = []

function outcomeOf(f: AttemptFailure): TryOutcome | 'abandoned' {
  switch (f.kind) {
    case 'connect':
      return 'connect'
    case 'timeout':
      return 'timeout'
    case 'reset':
    case 'protocol':
      return 'reset'
    default:
      return 'abandoned'
  }
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNABORTED'])
/** Connect failures that reached no backend at all and cost it nothing (a timeout may be an overloaded one). */
const REFUSED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'])

/** Maps an undici (or body) error to a failure kind and error code. */
export function classify(err: Error, bodyStarted: boolean): AttemptFailure {
  const code = (err as { code?: string }).code ?? ''
  if (code === 'LB_ERR_BODY_TOO_LARGE') return { code: 'LB_ERR_BODY_TOO_LARGE', kind: 'limit', bodyStarted }
  if (CONNECT_CODES.has(code)) return { code: 'LB_ERR_CONNECT', kind: 'connect', bodyStarted: false, refused: REFUSED_CODES.has(code) }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return { code: 'LB_ERR_UPSTREAM_TIMEOUT', kind: 'timeout', bodyStarted }
  }
  if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted') {
    return { code: 'LB_ERR_CLIENT_ABORTED', kind: 'client', bodyStarted }
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return { code: 'LB_ERR_RESET', kind: 'reset', bodyStarted }
  }
  return { code: 'LB_ERR_UPSTREAM_PROTOCOL', kind: 'protocol', bodyStarted }
}
