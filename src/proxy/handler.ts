import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { requestChannel, type ErrorCode, type RequestEvent } from '../core/index.js'
import { isReady, RetryGate, type Http2DispatchOptions, type UpstreamPool } from '../upstream/index.js'
import { isGrpcContentType, sendError, sendGrpcError } from './error-response.js'
import { isClosingAfterError, markClosesConnection } from '../wire/index.js'
import { incomingRequestId, readRequestHead, type RequestHead } from './request-head.js'
import { forwardTrailers, grpcTimeoutMs } from './grpc-call.js'
import { bodyOf } from './request-body.js'
import type { CompiledRoute } from './router.js'
import type { ProxyContext, ProxyRuntime } from './context.js'
import { Attempt, type AttemptOwner, type AttemptFailure } from './attempt.js'
import type { ClientRequest, ClientResponse } from './client-message.js'
import { stickyCookie } from './sticky-cookie.js'
import { GRPC_REPLAY_MAX_BYTES, ReplayBuffer } from './grpc-replay.js'
import { DECISION_HEADER, DecisionTrace, isDebugAuthorized } from './decision-trace.js'
import { chooseForwardPath, type ForwardPath } from './fast-path.js'
import { admit, isRefusal } from './admission.js'

/**
 * Builds the request listener: route -> (limit) -> pick -> forward -> retry. Synchronous up to the
 * dispatch; nothing on this path awaits I/O other than the backend itself.
 */
export function createRequestHandler(runtime: ProxyRuntime, proto: 'http' | 'https'): (req: ClientRequest, res: ClientResponse) => void {
  return (req, res) => {
    // Pipelined behind a request refused with a close: left unanswered and unforwarded; the connection
    // closes once the refusal is written.
    if (isClosingAfterError(req.socket)) return
    const ctx = runtime.context
    const head = readRequestHead(req, ctx.limits, ctx.paths)
    if (typeof head === 'string') {
      sendError(res, head, incomingRequestId(req.rawHeaders), undefined, undefined, req.socket)
      return
    }
    new Exchange(runtime, ctx, head, res, proto).start()
  }
}

/** One client request from arrival to the end of the response, across its tries. */
class Exchange implements AttemptOwner {
  readonly startedAt = performance.now()
  readonly headers: string[] = []
  readonly method: string
  requestId = ''
  clientIp = ''
  target = ''
  route: CompiledRoute | undefined
  pool: UpstreamPool | undefined
  hasBody = false
  contentLength = -1
  bodyBytes = 0
  bytesOut = 0
  tries = 0
  tried: Set<string> | undefined
  current: Attempt | undefined
  readonly req: ClientRequest
  clientGone = false
  finished = false
  upstreamMs = -1
  lastEndpoint = ''
  status = 0
  /** The request's retry policy and its share of the pool's retry budget (from the pick on). */
  gate: RetryGate | undefined
  lastFailureCode: ErrorCode | undefined
  /** Present when the client asked for (and is allowed) a decision trace. */
  trace: DecisionTrace | undefined
  traceTry = -1
  /** An HTTP/2 request with a gRPC content type: the balancer's own errors are gRPC-shaped. */
  grpc = false
  /** The call's `grpc-timeout` deadline, when it set one. */
  grpcDeadline: NodeJS.Timeout | undefined
  /** A gRPC call's request body, kept (while small) for a retry after UNAVAILABLE. */
  replay: ReplayBuffer | undefined
  /** `RateLimit-Policy` / `RateLimit` (and `Retry-After` when refused) for the response. */
  rateLimitHeaders: string[] | undefined
  /** The path the last try took (see `fast-path.ts`); undefined when no try was sent. */
  forwardPath: ForwardPath | undefined

  constructor(
    private readonly runtime: ProxyRuntime,
    private readonly ctx: ProxyContext,
    readonly head: RequestHead,
    readonly res: ClientResponse,
    private readonly proto: 'http' | 'https',
  ) {
    this.method = head.method
    this.req = head.req
  }

  start(): void {
    const { req, res, ctx, head } = this
    this.runtime.inFlight++
    // `on`, not `once`: the response object ends with the request, and once's wrapper costs on every request.
    res.on('close', this.onClientClose)
    // gRPC runs over HTTP/2 only; known first, so that every refusal below is gRPC-shaped.
    if (req.httpVersion === '2.0' && isGrpcContentType(head.contentType)) {
      this.grpc = true
      this.replay = new ReplayBuffer(GRPC_REPLAY_MAX_BYTES)
      const timeoutMs = grpcTimeoutMs(head.grpcTimeout)
      if (timeoutMs !== undefined) this.grpcDeadline = setTimeout(this.onGrpcDeadline, timeoutMs)
    }
    const admitted = admit(ctx, head, this.headers, this, this.proto, false)
    if (isRefusal(admitted)) return this.fail(admitted.refused, admitted.message)
    const { pool, facts } = admitted
    if (facts.debug !== '' && ctx.debugThrottle !== undefined) {
      const waitMs = ctx.debugThrottle.retryAfterMs(this.clientIp)
      if (waitMs > 0) {
        this.rateLimitHeaders = [...(this.rateLimitHeaders ?? []), 'retry-after', String(Math.ceil(waitMs / 1000))]
        return this.fail('LB_ERR_RATE_LIMITED', 'too many wrong x-lb-debug tokens from this client; retry later')
      }
    }
    this.pool = pool
    if (facts.debug !== '') {
      if (isDebugAuthorized(facts.debug, ctx.debugToken)) {
        this.trace = new DecisionTrace()
        this.trace.observePool(pool)
      } else {
        ctx.debugThrottle?.fail(this.clientIp)
      }
    }
    this.gate = new RetryGate(pool, this.method, facts.idempotencyKey, this.requestId)
    this.contentLength = facts.contentLength
    this.hasBody = facts.chunked || facts.contentLength > 0
    const max = ctx.limits.maxBodyBytes
    if (max !== undefined && facts.contentLength > max) return this.fail('LB_ERR_BODY_TOO_LARGE')
    this.dispatch()
  }

  /** Sends one try to the next endpoint, or answers at once when none can take it. */
  dispatch(): void {
    const pool = this.pool as UpstreamPool
    const keyOf = this.head.keyOf
    let lease = pool.acquire({ keyOf, exclude: this.tried })
    // A retry may reuse a tried endpoint only when no other one is ready (single-endpoint pools).
    if (lease === undefined && this.tried !== undefined) lease = pool.acquire({ keyOf })
    if (lease === undefined) {
      if (this.tries > 0) return this.fail(this.lastFailureCode ?? 'LB_ERR_NO_BACKEND')
      // Ready endpoints exist but every one refused more work (breaker limits, half-open trials).
      return this.fail(pool.ready > 0 ? 'LB_ERR_OVERLOADED' : 'LB_ERR_NO_BACKEND')
    }
    this.tries++
    this.lastEndpoint = lease.endpoint.id
    if (this.trace !== undefined) this.traceTry = this.trace.addTry(lease.endpoint.id, this.tried)
    const attempt = new Attempt(this, pool, lease)
    this.current = attempt
    const opts: Http2DispatchOptions = {
      path: this.target,
      method: this.method as Dispatcher.HttpMethod,
      headers: this.headers,
      // undici streams async iterables with back-pressure; its typings omit them.
      body: this.hasBody ? (bodyOf(this, attempt, this.ctx.limits.maxBodyBytes) as unknown as Readable) : this.contentLength === 0 ? '' : null,
      blocking: false,
      // HTTP/2 backends get the client's trailers (gRPC metadata sent after the messages, say).
      requestTrailers: this.hasBody ? () => this.req.trailers as Record<string, string> | undefined : undefined,
    }
    const perTry = pool.config.retries.perTryTimeoutMs
    if (perTry > 0) opts.headersTimeout = perTry
    const path = chooseForwardPath(this.req, lease)
    this.forwardPath = path
    attempt.connectionSaysBodyPending = path === 'fast'
    this.trace?.setPath(path)
    lease.sent()
    ;(path === 'fast' ? (lease.fastDispatcher as Dispatcher) : lease.dispatcher).dispatch(opts, attempt)
  }

  /**
   * Whether a failed try may be retried: never once the client left; otherwise the request's
   * {@link RetryGate} decides (attempts, safety rules, budget).
   */
  private mayRetry(attempt: Attempt, failure: AttemptFailure): boolean {
    if (this.clientGone) return false
    const decision = (this.gate as RetryGate).judge({
      outcome: failure.outcome,
      status: failure.status,
      grpcStatus: failure.grpcStatus,
      grpc: this.grpc,
      endpoint: attempt.state.endpoint.id,
      tries: this.tries,
      refused: failure.refused === true,
      endpointReady: isReady(attempt.state),
      responseStarted: this.res.headersSent,
      // A gRPC call whose whole body was kept can be sent again.
      bodyStarted: attempt.bodyStarted && this.replay?.isReplayable !== true,
    })
    return decision?.retry === true
  }

  /** Schedules the next try: at once on another endpoint, after a jittered backoff on the same one. */
  private retry(attempt: Attempt): void {
    ;(this.tried ??= new Set()).add(attempt.state.endpoint.id)
    const delayMs = (this.gate as RetryGate).delayMs(this.tries, (this.pool as UpstreamPool).ready > this.tried.size)
    if (delayMs === 0) return this.dispatch()
    setTimeout(() => {
      if (!this.clientGone) this.dispatch()
    }, delayMs)
  }

  /** Called by an Attempt that failed before any response byte reached the client. */
  onAttemptFailed(attempt: Attempt, failure: AttemptFailure): void {
    if (attempt !== this.current || this.finished) return
    this.lastFailureCode = failure.code
    this.trace?.setOutcome(this.traceTry, failure.outcome === '5xx' ? `${failure.status ?? ''} (retried)` : failure.outcome)
    if (this.clientGone) return this.finish(499, 'LB_ERR_CLIENT_ABORTED')
    // A dropped 5xx was granted its retry when its headers arrived (shouldRetryStatus), a try cancelled
    // because its endpoint left rotation before it was cancelled (shouldCancelForEndpointDown).
    if (failure.outcome === '5xx' || failure.outcome === 'endpoint-down') return this.retry(attempt)
    if (this.mayRetry(attempt, failure)) return this.retry(attempt)
    this.fail(failure.code)
  }

  /** Response headers arrived from the backend: forward them. */
  onResponseStart(attempt: Attempt, status: number, headers: string[]): boolean {
    if (attempt !== this.current || this.clientGone) return false
    this.upstreamMs = performance.now() - attempt.sentAt
    this.status = status
    this.replay?.release()
    headers.push('x-request-id', this.requestId)
    if (this.rateLimitHeaders !== undefined) for (const h of this.rateLimitHeaders) headers.push(h)
    if (this.trace !== undefined) {
      this.trace.setOutcome(this.traceTry, String(status))
      headers.push(DECISION_HEADER, this.trace.toString())
    }
    if (this.ctx.via) headers.push('via', '1.1 lb')
    // A new or moved session: (re)pin the client to the endpoint that answered.
    const tag = attempt.lease.stickyTag
    const sticky = attempt.pool.config.stickySession
    if (tag !== undefined && sticky?.kind === 'cookie') headers.push('set-cookie', stickyCookie(sticky, tag, this.proto === 'https'))
    const edits = this.route?.responseHeaders
    if (edits !== undefined) for (const x of edits.append) headers.push(x)
    if (this.runtime.shuttingDown) {
      headers.push('connection', 'close')
      markClosesConnection(this.res)
    }
    this.res.writeHead(status, headers)
    return true
  }

  /** The backend finished its response. */
  onResponseEnd(attempt: Attempt, trailers: readonly string[]): void {
    if (attempt !== this.current) return
    if (trailers.length > 0) forwardTrailers(this.res, trailers)
    this.res.end()
    this.finish(this.status, '')
  }

  /** The backend failed after response bytes reached the client: the client must see a broken response. */
  onResponseAborted(attempt: Attempt, code: ErrorCode): void {
    if (attempt !== this.current) return
    if (this.grpc && !this.clientGone) sendGrpcError(this.res, code, this.requestId)
    else this.res.destroy()
    this.finish(this.status, code)
  }

  /** Whether a response with this status should be dropped and the request retried. */
  shouldRetryStatus(attempt: Attempt, status: number, grpcStatus?: number): boolean {
    // A grpc-status means something only to a gRPC call; other requests go by the HTTP status alone.
    const callStatus = this.grpc ? grpcStatus : undefined
    if (attempt !== this.current || (status < 500 && callStatus === undefined)) return false
    return this.mayRetry(attempt, { code: 'LB_ERR_UPSTREAM_PROTOCOL', outcome: '5xx', status, grpcStatus: callStatus, bodyStarted: attempt.bodyStarted })
  }

  /** The try's endpoint left rotation before it answered: grant a retry elsewhere if the request allows one. */
  shouldCancelForEndpointDown(attempt: Attempt): boolean {
    if (attempt !== this.current || this.finished) return false
    // Nowhere else to go (the endpoint already left the ready set): let the try wait for its answer.
    if ((this.pool as UpstreamPool).ready === 0) return false
    return this.mayRetry(attempt, { code: 'LB_ERR_UPSTREAM_TIMEOUT', outcome: 'endpoint-down', bodyStarted: attempt.bodyStarted })
  }

  /** Route-configured response header removals. */
  get responseRemovals(): ReadonlySet<string> | undefined {
    return this.route?.responseHeaders?.remove
  }

  get responseStarted(): boolean {
    return this.res.headersSent
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished) return
    this.clientGone = true
    this.current?.abort()
    if (!this.finished) this.finish(499, 'LB_ERR_CLIENT_ABORTED')
  }

  /** The call's `grpc-timeout` passed: the try is cancelled and the client gets DEADLINE_EXCEEDED. */
  private readonly onGrpcDeadline = (): void => {
    if (this.finished) return
    const attempt = this.current
    // Detached first, so that the cancelled try's own failure report is ignored.
    this.current = undefined
    attempt?.abort()
    this.fail('LB_ERR_UPSTREAM_TIMEOUT')
  }

  private fail(code: ErrorCode, message?: string): void {
    const extra = this.trace === undefined ? this.rateLimitHeaders : [...(this.rateLimitHeaders ?? []), DECISION_HEADER, this.trace.toString()]
    if (this.grpc) sendGrpcError(this.res, code, this.requestId, message, extra, this.req.socket)
    else sendError(this.res, code, this.requestId, message, extra, this.req.socket)
    this.finish(this.res.statusCode, code)
  }

  private finish(status: number, error: string): void {
    if (this.finished) return
    this.finished = true
    if (this.grpcDeadline !== undefined) clearTimeout(this.grpcDeadline)
    this.runtime.inFlight--
    this.gate?.close()
    if (requestChannel.hasSubscribers) requestChannel.publish(this.event(status, error))
  }

  private event(status: number, error: string): RequestEvent {
    const req = this.req
    return {
      requestId: this.requestId,
      clientIp: this.clientIp,
      method: this.method,
      host: this.head.host,
      path: this.target || (req.url ?? ''),
      route: this.route?.name ?? '',
      pool: this.pool?.name ?? '',
      endpoint: this.lastEndpoint,
      status,
      bytesIn: this.bodyBytes,
      bytesOut: this.bytesOut,
      durationMs: performance.now() - this.startedAt,
      upstreamMs: this.upstreamMs,
      retries: this.tries > 0 ? this.tries - 1 : 0,
      error,
      decision: this.trace?.toString(),
      forwardPath: this.forwardPath,
    }
  }
}
