/**
 * HTTP/2 connections to one endpoint (`protocol: h2c` prior knowledge, or `h2` over TLS with ALPN),
 * behind the part of undici's `Dispatcher` interface the proxy uses (`dispatch(opts, handler)`,
 * `close()`, `stats.pending`). undici's own HTTP/2 client keeps a POST with a streamed body alone on
 * its connection (it cannot replay it if a sibling stream fails), which would cost every gRPC call a
 * connection; here requests are multiplexed as streams, a new session opening only when every open
 * one has as many streams as its peer's SETTINGS_MAX_CONCURRENT_STREAMS allows. Response trailers
 * (gRPC's `grpc-status`) reach the handler's `onComplete`.
 */
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import type { ConnectionOptions } from 'node:tls'
import type { Dispatcher } from 'undici'

/** Options of {@link Http2Dispatcher}; times in ms (0 = none). */
export interface Http2DispatcherOptions {
  /** `h2c`: cleartext with prior knowledge; `h2`: TLS, ALPN `h2`. */
  protocol: 'h2c' | 'h2'
  connectTimeoutMs: number
  /** Default time from sending a request to its response headers (a dispatch may set its own). */
  headersTimeoutMs: number
  /** Time without response bytes on a stream, once its headers arrived. */
  bodyTimeoutMs: number
  /** A session without streams for this long is closed. */
  idleTimeoutMs: number
  /** Most sessions per endpoint (0 = unlimited); beyond it, requests wait for a free stream. */
  maxSessions: number
  /**
   * `https:` origins: the pool's TLS settings (CA, client certificate, server name, verification), asked
   * for at each new session. Without it Node's defaults apply (system CAs, the url's host name checked).
   */
  tls?: (() => ConnectionOptions) | undefined
}

/** Streams assumed allowed on a session before the peer's SETTINGS arrive (Node's and nginx's default). */
const DEFAULT_MAX_STREAMS = 100

/** Request fields HTTP/2 forbids (RFC 9113 8.2.2); `host` becomes `:authority`. */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te', 'http2-settings'])

/**
 * A dispatch handler that may hear about a gRPC trailers-only response (the status alone in the only
 * HEADERS frame) before its `onHeaders`, to decide on a retry from `grpc-status` (`UNAVAILABLE`).
 */
export interface Http2DispatchHandler extends Dispatcher.DispatchHandler {
  /** The trailer fields of a trailers-only response, flat name/value list; called right before `onHeaders`. */
  onTrailersOnly?(trailers: readonly string[]): void
}

/** Dispatch options with the request's trailers, read once its streamed body ended. */
export interface Http2DispatchOptions extends Dispatcher.DispatchOptions {
  /** The client's trailer fields (lower-case names), asked for after the last body chunk; undefined = none. */
  requestTrailers?: (() => Readonly<Record<string, string>> | undefined) | undefined
}

interface Session {
  readonly h2: ClientHttp2Session
  active: number
  connected: boolean
  /** The error that ended the session before it connected (refused, unreachable, timeout). */
  connectError: Error | undefined
}

interface Waiting {
  opts: Dispatcher.DispatchOptions
  handler: Dispatcher.DispatchHandler
}

/** Error with a `code` the attempt classifier knows (the same codes undici uses). */
function codedError(message: string, code: string, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string }
  err.code = code
  return err
}

/** Multiplexed HTTP/2 sessions to one origin. */
export class Http2Dispatcher {
  private readonly sessions: Session[] = []
  private readonly waiting: Waiting[] = []
  private closed = false
  /** The endpoint's last announced SETTINGS_MAX_CONCURRENT_STREAMS: what a session still connecting is assumed to take. */
  private peerMaxStreams = DEFAULT_MAX_STREAMS

  constructor(
    private readonly origin: URL,
    private readonly options: Http2DispatcherOptions,
  ) {}

  /** Requests waiting for a stream slot (circuit breaker `maxPending`). */
  get stats(): { pending: number } {
    return { pending: this.waiting.length }
  }

  /** Sends one request as a stream; the handler hears about it as it would from undici. */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closed) {
      queueMicrotask(() => handler.onError?.(codedError('dispatcher closed', 'UND_ERR_CLOSED')))
      return false
    }
    const session = this.sessionWithRoom()
    if (session === undefined) {
      this.waiting.push({ opts, handler })
      return false
    }
    this.start(session, opts, handler)
    return true
  }

  /** Closes every session once its streams end. */
  async close(): Promise<void> {
    this.closed = true
    for (const w of this.waiting.splice(0)) w.handler.onError?.(codedError('dispatcher closed', 'UND_ERR_CLOSED'))
    await Promise.all(this.sessions.map((s) => new Promise<void>((resolve) => (s.h2.closed ? resolve() : s.h2.close(() => resolve())))))
  }

  /** Ends every session and stream at once. */
  async destroy(): Promise<void> {
    this.closed = true
    for (const s of this.sessions) s.h2.destroy()
  }

  private sessionWithRoom(): Session | undefined {
    for (const s of this.sessions) {
      if (s.h2.closed || s.h2.destroyed) continue
      const max = s.connected ? (s.h2.remoteSettings.maxConcurrentStreams ?? this.peerMaxStreams) : this.peerMaxStreams
      if (s.active < max) return s
    }
    const cap = this.options.maxSessions
    if (cap > 0 && this.sessions.length >= cap) return undefined
    return this.openSession()
  }

  private openSession(): Session {
    const o = this.options
    // Prior knowledge for http:, ALPN h2 for https: (Node asks for h2 only, and sends the url's host
    // name in SNI unless the TLS settings name another).
    const tls = this.origin.protocol === 'https:' ? o.tls?.() : undefined
    const h2 = connect(this.origin.origin, { ...tls, settings: { enablePush: false } })
    const session: Session = { h2, active: 0, connected: false, connectError: undefined }
    this.sessions.push(session)
    let timer: NodeJS.Timeout | undefined
    if (o.connectTimeoutMs > 0) {
      timer = setTimeout(() => {
        session.connectError = codedError(`connect timeout (${o.connectTimeoutMs} ms)`, 'UND_ERR_CONNECT_TIMEOUT')
        h2.destroy(session.connectError)
      }, o.connectTimeoutMs)
      timer.unref()
    }
    h2.once('connect', () => {
      clearTimeout(timer)
      session.connected = true
    })
    h2.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      // A TLS 1.3 server refuses a client certificate with an alert after the handshake: still a TLS failure.
      if (!session.connected || err.code?.startsWith('ERR_SSL_') === true) session.connectError ??= err
    })
    // More streams may fit once the peer says how many it takes.
    h2.on('remoteSettings', (settings) => {
      if (settings.maxConcurrentStreams !== undefined) this.peerMaxStreams = Math.max(1, settings.maxConcurrentStreams)
      this.drainWaiting()
    })
    h2.once('close', () => {
      clearTimeout(timer)
      const i = this.sessions.indexOf(session)
      if (i !== -1) this.sessions.splice(i, 1)
      this.drainWaiting()
    })
    h2.once('goaway', () => {
      // No new stream on a session the peer is closing; the ones it accepted finish.
      const i = this.sessions.indexOf(session)
      if (i !== -1) this.sessions.splice(i, 1)
    })
    if (o.idleTimeoutMs > 0) {
      h2.setTimeout(o.idleTimeoutMs, () => {
        if (session.active === 0) h2.close()
      })
    }
    h2.unref()
    return session
  }

  private drainWaiting(): void {
    while (this.waiting.length > 0 && !this.closed) {
      const session = this.sessionWithRoom()
      if (session === undefined) return
      const w = this.waiting.shift() as Waiting
      this.start(session, w.opts, w.handler)
    }
  }

  private start(session: Session, opts: Http2DispatchOptions, handler: Http2DispatchHandler): void {
    const headers = requestHeaders(opts, this.origin)
    const endStream = opts.body === null || opts.body === undefined || opts.body === ''
    // A streamed body may end with trailers the client sends last: the stream stays open for them.
    const trailersOf = !endStream && opts.requestTrailers !== undefined && !isBytes(opts.body) ? opts.requestTrailers : undefined
    let stream: ClientHttp2Stream
    try {
      stream = session.h2.request(headers, { endStream, waitForTrailers: trailersOf !== undefined })
    } catch (err) {
      handler.onError?.(codedError('cannot open a stream', 'UND_ERR_SOCKET', err))
      return
    }
    session.active++
    session.h2.ref()
    let done = false
    let gotHeaders = false
    let trailers: string[] = []
    let headersTimer: NodeJS.Timeout | undefined
    const fail = (err: Error): void => {
      if (done) return
      done = true
      clearTimeout(headersTimer)
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL)
      handler.onError?.(err)
    }
    handler.onConnect?.((err?: Error) => fail(err ?? codedError('request aborted', 'UND_ERR_ABORTED')))
    if (done) return

    const headersTimeoutMs = opts.headersTimeout ?? this.options.headersTimeoutMs
    if (headersTimeoutMs > 0) {
      headersTimer = setTimeout(() => fail(codedError(`no response headers within ${headersTimeoutMs} ms`, 'UND_ERR_HEADERS_TIMEOUT')), headersTimeoutMs)
      headersTimer.unref()
    }
    stream.on('response', (h: IncomingHttpHeaders, flags: number) => {
      if (done) return
      clearTimeout(headersTimer)
      gotHeaders = true
      const status = Number(h[':status'])
      const resume = (): void => {
        stream.resume()
      }
      let head = h
      if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 && h['grpc-status'] !== undefined) {
        // A gRPC "trailers-only" response: the status is in the only HEADERS frame. Relayed as headers
        // plus trailers, the form every gRPC client reads, since the client side may not end the
        // stream with its headers.
        head = {}
        const tail: IncomingHttpHeaders = {}
        for (const [name, value] of Object.entries(h)) {
          if (name.startsWith('grpc-')) tail[name] = value
          else head[name] = value
        }
        trailers = flattenStrings(tail)
        handler.onTrailersOnly?.(trailers)
      }
      if (handler.onHeaders?.(status, flatten(head), resume, '') === false) stream.pause()
      if (this.options.bodyTimeoutMs > 0) {
        stream.setTimeout(this.options.bodyTimeoutMs, () => fail(codedError(`no response body bytes for ${this.options.bodyTimeoutMs} ms`, 'UND_ERR_BODY_TIMEOUT')))
      }
    })
    stream.on('data', (chunk: Buffer) => {
      if (done) return
      if (handler.onData?.(chunk) === false) stream.pause()
    })
    stream.on('trailers', (h: IncomingHttpHeaders) => {
      trailers = flattenStrings(h)
    })
    stream.on('end', () => {
      if (done || !gotHeaders) return
      done = true
      handler.onComplete?.(trailers)
    })
    // Reported once, from 'close'. A session that fails to connect (refused, TLS verification) cancels
    // its pending streams with its error as the cause, before its own 'error' event.
    let streamError: Error | undefined
    stream.on('error', (err: Error) => (streamError ??= err.cause instanceof Error ? err.cause : err))
    stream.once('close', () => {
      session.active--
      if (session.active === 0) session.h2.unref()
      clearTimeout(headersTimer)
      this.drainWaiting()
      if (done) return
      if (session.connectError !== undefined) return fail(session.connectError)
      if (!session.connected && !gotHeaders) return fail(streamError ?? codedError('connection failed', 'ECONNREFUSED'))
      if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM && !gotHeaders) {
        return fail(codedError('stream refused by the backend', 'ECONNREFUSED'))
      }
      fail(codedError(`stream closed by the backend (code ${stream.rstCode ?? 'none'})`, 'UND_ERR_SOCKET'))
    })
    if (trailersOf !== undefined) stream.once('wantTrailers', () => stream.sendTrailers(trailerFields(trailersOf())))
    writeBody(stream, opts.body, fail)
  }
}

/** The request head as HTTP/2 fields: pseudo-headers first, connection-specific fields dropped. */
function requestHeaders(opts: Dispatcher.DispatchOptions, origin: URL): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': opts.method,
    ':path': opts.path,
    ':scheme': origin.protocol === 'https:' ? 'https' : 'http',
    ':authority': origin.host,
  }
  const raw = opts.headers
  let grpc = false
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = String(raw[i]).toLowerCase()
      const value = String(raw[i + 1])
      if (name === 'host') {
        out[':authority'] = value
        continue
      }
      if (DROPPED.has(name)) continue
      if (name === 'content-type' && value.startsWith('application/grpc')) grpc = true
      const prev = out[name]
      if (prev === undefined) out[name] = value
      else if (Array.isArray(prev)) prev.push(value)
      else out[name] = [String(prev), value]
    }
  }
  // gRPC servers may refuse a call without it; it is hop-by-hop, so the client's was removed.
  if (grpc) out.te = 'trailers'
  return out
}

function flatten(h: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = []
  for (const s of flattenStrings(h)) out.push(Buffer.from(s, 'latin1'))
  return out
}

function flattenStrings(h: IncomingHttpHeaders): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(h)) {
    if (name.charCodeAt(0) === 58 /* : */ || value === undefined) continue
    if (Array.isArray(value)) for (const v of value) out.push(name, v)
    else out.push(name, String(value))
  }
  return out
}

/** Request trailer fields HTTP/2 may carry: no pseudo-headers, nothing connection-specific. */
function trailerFields(fields: Readonly<Record<string, string>> | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  if (fields === undefined) return out
  for (const [name, value] of Object.entries(fields)) {
    const lower = name.toLowerCase()
    if (lower.charCodeAt(0) === 58 /* : */ || DROPPED.has(lower) || lower === 'content-length') continue
    out[lower] = value
  }
  return out
}

function isBytes(body: unknown): boolean {
  return typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array
}

/** Streams the request body into the HTTP/2 stream with back-pressure. */
function writeBody(stream: ClientHttp2Stream, body: Dispatcher.DispatchOptions['body'], fail: (err: Error) => void): void {
  if (body === null || body === undefined || body === '') return
  if (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) {
    stream.end(body)
    return
  }
  const iterable = body as unknown as AsyncIterable<Buffer>
  void (async () => {
    try {
      for await (const chunk of iterable) {
        if (stream.destroyed) return
        if (!stream.write(chunk)) {
          await new Promise<void>((resolve) => {
            const go = (): void => {
              stream.off('drain', go)
              stream.off('close', go)
              resolve()
            }
            stream.on('drain', go)
            stream.on('close', go)
          })
        }
      }
      if (!stream.destroyed) stream.end()
    } catch (err) {
      fail(err as Error)
    }
  })()
}
