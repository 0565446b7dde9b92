import { randomUUID } from 'node:crypto'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { requestChannel, upstreamErrorChannel, websocketChannel, type ErrorCode, type RequestEvent } from '../core/index.js'
import { isUpstreamError, RetryGate, type AcquireContext, type Lease, type TryOutcome, type UpstreamPool } from '../upstream/index.js'
import { writeRawError } from '../wire/index.js'
import { readRequestHead } from './request-head.js'
import { admit, isRefusal, type AdmissionRecord } from './admission.js'
import type { ProxyRuntime } from './context.js'
import type { ClientRequest } from './client-message.js'
import { stickyCookie } from './sticky-cookie.js'
import { watchIdle } from './idle-watch.js'

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL'])
/** Connect failures answered at once: they cost no backend anything (not rationed by the retry budget). */
const REFUSED_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])

/**
 * Tunnels `Upgrade` requests (WebSocket and others) to an endpoint chosen by the same admission as
 * plain requests: guard, route, rate limit, then a lease from the pool (pick and breaker). The tunnel
 * opens only after the backend answers 101; any other answer is relayed as an ordinary response and
 * the connection closed. The lease is held for the tunnel's life (it counts as in flight) and given
 * back whatever the end: refusal, error, close, idle timeout. `Upgrade: h2c` is refused: tunnelling it
 * would let a client speak HTTP/2 past every rule of the balancer (h2c smuggling).
 */
export function createUpgradeHandler(runtime: ProxyRuntime, proto: 'http' | 'https'): (req: ClientRequest, socket: Duplex, head: Buffer) => void {
  return (req, socket, rawHead) => {
    socket.on('error', () => socket.destroy())
    const ctx = runtime.context
    const requestId = randomUUID()
    // Backends get the origin form, as for plain requests (a proxy-style absolute target is converted).
    const head = readRequestHead(req, ctx.limits, ctx.paths)
    if (typeof head === 'string') return writeRawError(socket, head, requestId)
    if (head.upgrade.toLowerCase().split(',').some((p) => p.trim() === 'h2c')) {
      return writeRawError(socket, 'LB_ERR_UPGRADE_REFUSED', requestId, 'h2c upgrade is not supported')
    }
    const headers: string[] = []
    const record: AdmissionRecord = { route: undefined, requestId, clientIp: '', rateLimitHeaders: undefined, target: '' }
    const admitted = admit(ctx, head, headers, record, proto, true)
    if (isRefusal(admitted)) {
      writeRawError(socket, admitted.refused, record.requestId, admitted.message, record.rateLimitHeaders)
      // Counted and logged like a refused plain request (`lb_rate_limited_total`, access log).
      if (admitted.refused === 'LB_ERR_RATE_LIMITED' && requestChannel.hasSubscribers) {
        requestChannel.publish({
          requestId: record.requestId, clientIp: record.clientIp, method: head.method, host: head.host, path: head.forwardTarget(false),
          route: record.route?.name ?? '', pool: record.route?.pool ?? '', endpoint: '', status: 429, bytesIn: 0, bytesOut: 0, durationMs: 0,
          upstreamMs: -1, retries: 0, error: 'LB_ERR_RATE_LIMITED',
        } satisfies RequestEvent)
      }
      return
    }
    const tunnel = new Tunnel(admitted.pool, socket, rawHead, head.method, record.target, headers, record.requestId, head.keyOf, record.rateLimitHeaders, proto === 'https')
    tunnel.connect()
  }
}

/** One upgraded connection: tries endpoints until one is reached, then relays bytes both ways. */
class Tunnel {
  private readonly tried = new Set<string>()
  private tries = 0
  /** The request's retry policy, as for plain requests: `retries.on`, attempts, budget, `lb_retries_total`. */
  private readonly gate: RetryGate

  constructor(
    private readonly pool: UpstreamPool,
    private readonly client: Duplex,
    private readonly head: Buffer,
    private readonly method: string,
    private readonly path: string,
    private readonly headers: string[],
    private readonly requestId: string,
    /** The request's keys, for hashing and stickiness (the same as for plain requests). */
    private readonly keyOf: AcquireContext['keyOf'],
    /** `RateLimit-Policy` / `RateLimit` name/value pairs for the answer, if the route is limited. */
    private readonly extraHeaders: readonly string[] | undefined,
    /** The client came over TLS (the sticky cookie is `Secure`). */
    private readonly secure: boolean,
  ) {
    this.gate = new RetryGate(pool, method, false, requestId)
    // The retry decision ends with the answer; the gate leaves the budget's active count then, or when the client goes.
    client.once('close', () => this.gate.close())
  }

  connect(): void {
    if (this.client.destroyed) return
    const lease = this.pool.acquire({ exclude: this.tried, keyOf: this.keyOf })
    if (lease === undefined) {
      this.gate.close()
      const code: ErrorCode = this.tries > 0 ? 'LB_ERR_CONNECT' : this.pool.ready > 0 ? 'LB_ERR_OVERLOADED' : 'LB_ERR_NO_BACKEND'
      return writeRawError(this.client, code, this.requestId)
    }
    this.tries++
    this.tried.add(lease.endpoint.id)
    const url = lease.endpoint.url
    lease.sent()
    const upstream = httpRequest({
      host: url.hostname,
      port: url.port === '' ? 80 : Number(url.port),
      method: this.method,
      path: this.path,
      headers: this.headers,
      agent: false,
      timeout: this.pool.config.timeouts.connectMs,
    })
    let connected = false
    let answered = false
    upstream.on('socket', (s) => s.once('connect', () => (connected = true)))
    upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' })))
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return // the answer is being relayed; its own close ends the lease
      const connectFailure = !connected && CONNECT_CODES.has(err.code ?? '')
      const outcome: TryOutcome = this.client.destroyed ? 'abandoned' : connectFailure ? 'connect' : err.code === 'ETIMEDOUT' ? 'timeout' : 'reset'
      // Ends the lease before retrying: the next pick must see this endpoint's slot free again.
      lease.end(outcome)
      this.publishUpstreamError(outcome, lease, err)
      if (this.client.destroyed) return
      // Only a connection never made is tried again: nothing was sent, so any endpoint may take it.
      if (connectFailure && this.mayRetry(lease, err)) return this.connect()
      this.gate.close()
      writeRawError(this.client, err.code === 'ETIMEDOUT' ? 'LB_ERR_UPSTREAM_TIMEOUT' : 'LB_ERR_CONNECT', this.requestId)
    })
    upstream.on('response', (res) => {
      answered = true
      this.gate.close()
      this.relayRefusal(res, lease)
    })
    upstream.on('upgrade', (res, socket, head) => {
      answered = true
      this.gate.close()
      this.open(res, socket, head, lease)
    })
    // Whatever happened (refusal relayed, error, client gone): once the request is over and no tunnel
    // took the lease over, give it back. `end` is idempotent, so paths that ended it already are fine.
    upstream.once('close', () => {
      if (!this.opened) lease.end('abandoned')
    })
    this.client.once('close', () => {
      if (!this.opened) upstream.destroy()
    })
    upstream.end()
  }

  private opened = false

  /** The backend did not switch protocols: pass its answer on, open no tunnel, close. */
  private relayRefusal(res: IncomingMessage, lease: Lease): void {
    lease.firstByte()
    const status = res.statusCode ?? 502
    // A refusal is an answer: the backend works. Only a 5xx counts against it.
    lease.report(status >= 500 ? '5xx' : 'success')
    res.once('close', () => lease.end('abandoned'))
    const lines = [`HTTP/1.1 ${status} ${res.statusMessage ?? ''}`]
    const raw = res.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const lower = (raw[i] as string).toLowerCase()
      if (lower === 'connection' || lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade') continue
      lines.push(`${raw[i]}: ${raw[i + 1]}`)
    }
    this.pushExtraHeaders(lines, lease)
    lines.push(`X-Request-Id: ${this.requestId}`, 'Connection: close', '', '')
    this.client.write(lines.join('\r\n'))
    res.pipe(this.client)
  }

  private open(res: IncomingMessage, upstream: Duplex, upstreamHead: Buffer, lease: Lease): void {
    const client = this.client
    lease.firstByte()
    lease.report('success')
    if (client.destroyed) {
      upstream.destroy()
      lease.end('abandoned')
      return
    }
    this.opened = true
    const lines = [`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`]
    const raw = res.rawHeaders
    for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`)
    this.pushExtraHeaders(lines, lease)
    lines.push('', '')
    client.write(lines.join('\r\n'))
    if (upstreamHead.length > 0) client.write(upstreamHead)
    if (this.head.length > 0) upstream.write(this.head)
    const pool = this.pool.name
    const endpoint = lease.endpoint.id
    const stopIdle = watchIdle(client, upstream, this.pool.config.timeouts.tunnelIdleMs, () => {
      client.destroy()
      upstream.destroy()
    })
    const closed = (): void => {
      stopIdle()
      lease.end('success')
    }
    upstream.on('error', () => client.destroy())
    upstream.on('close', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.once('close', closed)
    client.once('close', closed)
    upstream.pipe(client)
    client.pipe(upstream)
    if (websocketChannel.hasSubscribers) websocketChannel.publish({ pool, endpoint, open: true })
    client.once('close', () => {
      if (websocketChannel.hasSubscribers) websocketChannel.publish({ pool, endpoint, open: false })
    })
  }

  /** Whether a connect failure may be tried on another endpoint ({@link RetryGate.judge}). */
  private mayRetry(lease: Lease, err: NodeJS.ErrnoException): boolean {
    const decision = this.gate.judge({
      outcome: 'connect',
      endpoint: lease.endpoint.id,
      tries: this.tries,
      refused: REFUSED_CODES.has(err.code ?? ''),
      endpointReady: true,
      responseStarted: false,
      bodyStarted: false,
    })
    return decision?.retry === true
  }

  /** A failed try is counted and logged like a plain request's (`lb_upstream_errors_total{kind}`). */
  private publishUpstreamError(outcome: TryOutcome, lease: Lease, err: NodeJS.ErrnoException): void {
    if (!isUpstreamError(outcome) || !upstreamErrorChannel.hasSubscribers) return
    upstreamErrorChannel.publish({ pool: this.pool.name, endpoint: lease.endpoint.id, kind: outcome, requestId: this.requestId, detail: err.code })
  }

  /** Rate-limit fields, and the sticky cookie when the session is new or moved (as for plain requests). */
  private pushExtraHeaders(lines: string[], lease: Lease): void {
    const extra = this.extraHeaders
    if (extra !== undefined) for (let i = 0; i + 1 < extra.length; i += 2) lines.push(`${extra[i]}: ${extra[i + 1]}`)
    const sticky = this.pool.config.stickySession
    if (lease.stickyTag !== undefined && sticky?.kind === 'cookie') lines.push(`Set-Cookie: ${stickyCookie(sticky, lease.stickyTag, this.secure)}`)
  }
}
