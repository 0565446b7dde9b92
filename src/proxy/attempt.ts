import { upstreamErrorChannel, type ErrorCode } from '../core/index.js'
import { isUpstreamError, type EndpointState, type Http2DispatchHandler, type Lease, type TryOutcome, type UpstreamPool } from '../upstream/index.js'
import { copyResponseHeaders } from './headers.js'
import { noteRelayedBytes } from './relay-memory.js'
import type { ClientResponse } from './client-message.js'

/** Why a try failed, in the terms retry decisions and error responses need. */
export interface AttemptFailure {
  code: ErrorCode
  /**
   * How the try ended (see `TryOutcome`). `5xx` here: a retryable 5xx whose body was dropped, its retry
   * already granted; `endpoint-down`: cancelled by the balancer, its retry already granted.
   */
  outcome: TryOutcome
  /** The status of a `5xx` outcome. */
  status?: number
  /** The `grpc-status` of a gRPC trailers-only response dropped for a retry (its HTTP status may be 200). */
  grpcStatus?: number | undefined
  /** Request body bytes were already pulled from the client for this try (it cannot be replayed). */
  bodyStarted: boolean
  /** A `connect` failure that was refused or unreachable at once (not a connect timeout). */
  refused?: boolean
  /** `upstream-tls`: the TLS error code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, ...). */
  detail?: string
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
  /**
   * Whether a response with this status should be dropped and the request retried; `grpcStatus`: the
   * `grpc-status` of a gRPC trailers-only response.
   */
  shouldRetryStatus(a: Attempt, status: number, grpcStatus?: number): boolean
  /**
   * The endpoint left rotation while this try waits for its answer: true when the request may be
   * retried elsewhere (the retry is then granted and the try gets cancelled).
   */
  shouldCancelForEndpointDown(a: Attempt): boolean
}

/**
 * One try of a request against one endpoint: an undici dispatch handler that streams the response
 * to the client with back-pressure (undici pauses the socket while `res.write` is full). It holds the
 * endpoint's lease; its end ends the lease (slot, in-flight count, breaker and passive verdict) once.
 */
export class Attempt implements Http2DispatchHandler {
  bodyStarted = false
  /** Sent on the fast path's own connections: they call {@link onBodyPending} themselves. */
  connectionSaysBodyPending = false
  private abortFn: ((err: Error) => void) | undefined
  private settled = false
  private forwarding = false
  private status = 0
  private discardStatus = 0
  private abortRequested = false
  private cancelledForEndpointDown = false
  private resumeFn: (() => void) | undefined
  /** The `grpc-status` of a trailers-only response, heard just before its headers. */
  private trailersOnlyStatus: number | undefined

  constructor(
    private readonly owner: AttemptOwner,
    readonly pool: UpstreamPool,
    readonly lease: Lease,
  ) {
    lease.onEndpointDown = this.onEndpointDown
  }

  /** The endpoint's state (read-only). */
  get state(): EndpointState {
    return this.lease.state
  }

  /** `performance.now()` when the try was sent. */
  get sentAt(): number {
    return this.lease.sentAt
  }

  /** Cancels the try (client went away). */
  abort(): void {
    this.abortRequested = true
    this.abortFn?.(new Error('client closed the connection'))
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort
    if (this.abortRequested) abort(new Error('client closed the connection'))
  }

  onTrailersOnly(trailers: readonly string[]): void {
    for (let i = 0; i + 1 < trailers.length; i += 2) {
      if (trailers[i] === 'grpc-status') this.trailersOnlyStatus = Number(trailers[i + 1])
    }
  }

  /** `rawHeaders`: Buffers from undici, strings from the fast path's own connections. */
  onHeaders(statusCode: number, rawHeaders: (Buffer | string)[], resume: () => void): boolean {
    if (statusCode < 200) return true // 1xx informational: the final response follows
    this.lease.firstByte()
    this.status = statusCode
    if (this.owner.shouldRetryStatus(this, statusCode, this.trailersOnlyStatus)) {
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
    // undici says nothing of where a read ends: the head goes on once this read is done, unless body bytes did.
    if (!this.connectionSaysBodyPending) process.nextTick(flushPendingHead, this)
    return true
  }

  /** The head came and the body goes on past the bytes read so far: the client gets the head now. */
  onBodyPending(): void {
    const res = this.owner.res
    if (this.forwarding && !this.settled && !res.headersSent) res.flushHeaders?.()
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

  /**
   * Whether the last chunk `onData` took may still be read: the response holds bytes the kernel has not
   * taken (a queued write keeps a reference to its chunk). The fast path's connections lend body chunks and
   * reuse their memory once this says no.
   */
  keepsLastChunk(): boolean {
    return this.forwarding && this.owner.res.writableLength !== 0
  }

  onComplete(trailers?: readonly (string | Buffer)[] | null): void {
    if (!this.settle(this.status >= 500 ? '5xx' : 'success')) return
    if (this.discardStatus !== 0) {
      this.owner.onAttemptFailed(this, { code: 'LB_ERR_UPSTREAM_PROTOCOL', outcome: '5xx', status: this.discardStatus, bodyStarted: this.bodyStarted })
    } else if (this.forwarding) {
      this.owner.onResponseEnd(this, trailers == null || trailers.length === 0 ? NO_TRAILERS : trailers.map(String))
    }
  }

  onError(err: Error): void {
    // Our own aborts (the client went away, the endpoint left rotation) say nothing new about the
    // backend: no passive-check failure.
    const failure: AttemptFailure = this.cancelledForEndpointDown
      ? { code: 'LB_ERR_UPSTREAM_TIMEOUT', outcome: 'endpoint-down', bodyStarted: this.bodyStarted }
      : this.abortRequested
        ? { code: 'LB_ERR_CLIENT_ABORTED', outcome: 'client-aborted', bodyStarted: this.bodyStarted }
        : classify(err, this.bodyStarted)
    if (!this.settle(failure.outcome)) return
    if (isUpstreamError(failure.outcome) && upstreamErrorChannel.hasSubscribers) {
      upstreamErrorChannel.publish({
        pool: this.pool.name,
        endpoint: this.state.endpoint.id,
        kind: failure.outcome,
        requestId: this.owner.requestId,
        detail: failure.detail,
      })
    }
    if (this.forwarding) this.owner.onResponseAborted(this, failure.code)
    else this.owner.onAttemptFailed(this, failure)
  }

  /** Its endpoint left rotation before any response byte: cancel and retry elsewhere when allowed. */
  private readonly onEndpointDown = (): void => {
    if (this.settled || this.abortRequested || !this.owner.shouldCancelForEndpointDown(this)) return
    this.cancelledForEndpointDown = true
    this.abortRequested = true
    this.abortFn?.(new Error('endpoint left rotation'))
  }

  private settle(outcome: TryOutcome): boolean {
    if (this.settled) return false
    this.settled = true
    this.lease.end(outcome)
    return true
  }
}

const NO_TRAILERS: readonly string[] = []

function flushPendingHead(a: Attempt): void {
  a.onBodyPending()
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNABORTED'])
/** Connect failures that reached no backend at all and cost it nothing (a timeout may be an overloaded one). */
const REFUSED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'])

/** Maps an undici (or body) error to a try outcome and error code. */
export function classify(err: Error, bodyStarted: boolean): AttemptFailure {
  const code = (err as { code?: string }).code ?? ''
  if (code === 'LB_ERR_BODY_TOO_LARGE') return { code: 'LB_ERR_BODY_TOO_LARGE', outcome: 'body-too-large', bodyStarted }
  if (isTlsFailure(code)) return { code: 'LB_ERR_UPSTREAM_TLS', outcome: 'upstream-tls', bodyStarted: false, detail: code }
  if (CONNECT_CODES.has(code)) return { code: 'LB_ERR_CONNECT', outcome: 'connect', bodyStarted: false, refused: REFUSED_CODES.has(code) }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return { code: 'LB_ERR_UPSTREAM_TIMEOUT', outcome: 'timeout', bodyStarted }
  }
  if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted') {
    return { code: 'LB_ERR_CLIENT_ABORTED', outcome: 'client-aborted', bodyStarted }
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return { code: 'LB_ERR_RESET', outcome: 'reset', bodyStarted }
  }
  return { code: 'LB_ERR_UPSTREAM_PROTOCOL', outcome: 'protocol', bodyStarted }
}

/**
 * OpenSSL certificate-verification codes Node reports as `err.code` (X509_V_ERR_* without the prefix),
 * plus Node's own name-check code; handshake alerts (a client certificate refused) are `ERR_SSL_*`.
 */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'INVALID_PURPOSE', 'HOSTNAME_MISMATCH', 'IP_ADDRESS_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT',
])

function isTlsFailure(code: string): boolean {
  return code.startsWith('ERR_SSL_') || TLS_VERIFY_CODES.has(code)
}
