/**
 * HTTP/2 on the TLS listener (ALPN `h2`, with HTTP/1.1 on the same port), in front of the same
 * request handler as HTTP/1.1: Node's compatibility API hands it `Http2ServerRequest` /
 * `Http2ServerResponse`, which {@link adaptHttp2Exchange} turns into what the proxy expects of an
 * HTTP/1.1 exchange (RFC 9113 8.3.1 for the pseudo-headers, 8.2.2 for connection-specific fields).
 *
 * Limits (all explicit, see {@link Http2Limits}): concurrent streams per session, header list size and
 * count, session memory, idle sessions. Flood defences are nghttp2's and Node's, verified by
 * test/integration/tls.test.ts: a rapid-reset flood (CVE-2023-44487) ends in GOAWAY and a CONTINUATION
 * flood (CVE-2024-27316 family) in the connection closing, with bounded memory, while other sessions keep
 * being served.
 */
import { constants, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type Http2SecureServer, type SecureServerOptions } from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClientLimits } from '../config/index.js'
import { sendError, type ClientRequest, type ClientResponse } from '../proxy/index.js'

/** HTTP/2 session limits. Every field has a default. */
export interface Http2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS per session (default 100, as nginx). */
  maxConcurrentStreams?: number
  /** nghttp2 memory ceiling per session, MB (default 10): beyond it new streams are refused (ENHANCE_YOUR_CALM). */
  maxSessionMemoryMb?: number
  /** A session without open streams for this long is closed with GOAWAY, ms (default 60 s). */
  idleTimeoutMs?: number
  /** Invalid frames tolerated per session before it is destroyed (Node's default 1000). */
  maxSessionInvalidFrames?: number
  /** Streams refused per session (over the concurrency limit) before it is destroyed (Node's default 100). */
  maxSessionRejectedStreams?: number
}

/** Response fields HTTP/2 forbids (RFC 9113 8.2.2): Node's compat layer throws on them. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings'])

/** Fields Node sends once only in HTTP/2 (a second value throws ERR_HTTP2_HEADER_SINGLE_VALUE); the first is kept. */
const SINGLE_VALUE = new Set([
  'age', 'authorization', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5',
  'content-range', 'content-type', 'date', 'etag', 'expires', 'from', 'last-modified', 'location', 'max-forwards',
  'retry-after', 'x-content-type-options', 'access-control-allow-credentials', 'access-control-max-age',
])

/** Pseudo-header fields a request carries; the HTTP/2 per-entry overhead in SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 6.5.2). */
const PSEUDO_FIELDS = 5
const ENTRY_OVERHEAD = 32

/**
 * Options for `http2.createSecureServer` from the client limits: ALPN h2 + http/1.1, the session limits,
 * and a header list size / count one field above what the request guard allows, so that the guard
 * (not nghttp2's stream reset) answers an oversized head with a 431 body.
 */
export function http2ServerOptions(limits: ClientLimits, h2: Http2Limits = {}): SecureServerOptions {
  return {
    allowHTTP1: true,
    noDelay: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    settings: {
      maxConcurrentStreams: h2.maxConcurrentStreams ?? 100,
      // The guard counts name + value + 4 per field; HTTP/2 counts name + value + 32 (pseudo-fields included).
      maxHeaderListSize: limits.maxHeaderBytes + ENTRY_OVERHEAD * (limits.maxHeaderCount + PSEUDO_FIELDS + 1),
      enablePush: false,
      enableConnectProtocol: false,
    },
    maxHeaderListPairs: limits.maxHeaderCount + PSEUDO_FIELDS + 1,
    maxSessionMemory: h2.maxSessionMemoryMb ?? 10,
    maxSessionInvalidFrames: h2.maxSessionInvalidFrames ?? 1000,
    maxSessionRejectedStreams: h2.maxSessionRejectedStreams ?? 100,
    // Answers from the balancer are small; a client must not make us buffer much for it.
    maxSendHeaderBlockLength: 64 * 1024,
    // Peers that never speak a protocol are dropped after the header deadline.
    unknownProtocolTimeout: limits.headerTimeoutMs,
  }
}

/**
 * Sets the HTTP/1.1 parser limits on an `allowHTTP1` HTTP/2 server: Node's HTTP/1 connection listener
 * reads them from the server object (the same values `createHttpServer` passes to `http.createServer`).
 */
export function applyHttp1Limits(server: Http2SecureServer, limits: ClientLimits): void {
  const s = server as unknown as Record<string, unknown>
  s.maxHeaderSize = limits.maxHeaderBytes + limits.maxUrlBytes + 1024
  s.headersTimeout = limits.headerTimeoutMs
  s.requestTimeout = limits.requestTimeoutMs
  s.keepAliveTimeout = limits.keepAliveTimeoutMs
  s.connectionsCheckingInterval = Math.min(1000, limits.headerTimeoutMs)
  s.requireHostHeader = false
  s.joinDuplicateHeaders = false
  s.maxHeadersCount = limits.maxHeaderCount + 1
  s.maxRequestsPerSocket = 0
}

/**
 * Closes idle sessions: a session with no open stream for `idleTimeoutMs` gets GOAWAY (graceful
 * `session.close()`); one with open streams (a long poll, a slow backend) is left alone and re-checked.
 * Returns the live sessions (`sessions`, by default a new set), for drain.
 */
export function trackSessions(server: Http2SecureServer, idleTimeoutMs: number, sessions = new Set<Http2Session>()): Set<Http2Session> {
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    let open = 0
    session.on('stream', (stream) => {
      open++
      stream.once('close', () => open--)
    })
    session.setTimeout(idleTimeoutMs, () => {
      if (open === 0) session.close()
      else session.setTimeout(idleTimeoutMs)
    })
    session.once('close', () => sessions.delete(session))
    // Errors end the session; the server's `sessionError` event is informational.
    session.on('error', () => undefined)
  })
  return sessions
}

/**
 * Wraps the proxy's request handler for a server that receives both HTTP/1.1 (`IncomingMessage`) and
 * HTTP/2 compat (`Http2ServerRequest`) requests. HTTP/2 exchanges are adapted first; an exception
 * thrown by the handler becomes a 500 on that stream, never a crashed worker.
 */
export function createHttp2RequestListener(
  handler: (req: ClientRequest, res: ClientResponse) => void,
  limits: ClientLimits,
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  return (req, res) => {
    if (req.httpVersionMajor !== 2) {
      handler(req as IncomingMessage, res as ServerResponse)
      return
    }
    const h2req = req as Http2ServerRequest
    const h2res = res as Http2ServerResponse
    // Reset by the client before its request event (rapid reset): the response's `close` has already
    // fired, so an exchange started now would never learn that its client is gone.
    if (h2res.stream.destroyed || h2res.stream.closed) return
    try {
      adaptHttp2Exchange(h2req, h2res, limits.requestTimeoutMs)
      // adaptHttp2Exchange gave the compat objects what ClientRequest/ClientResponse lack (writeHead with a list, socket).
      handler(h2req as unknown as ClientRequest, h2res as unknown as ClientResponse)
    } catch {
      if (!h2res.headersSent && !h2res.stream.destroyed) sendError(h2res as unknown as ClientResponse, 'LB_ERR_INTERNAL', '')
      else h2res.stream.close(constants.NGHTTP2_INTERNAL_ERROR)
    }
  }
}

/**
 * Makes an HTTP/2 compat exchange look like the HTTP/1.1 one the proxy handler reads (own properties on
 * the two objects shadow the compat getters; nothing global is patched):
 * - `rawHeaders` without pseudo-headers, with `host` from `:authority` when absent (a `host` that differs
 *   from `:authority` is kept beside it, so that the guard answers 400), `cookie` fields
 *   joined with `; ` (RFC 9113 8.2.3), and `transfer-encoding: chunked` when a body follows without a
 *   `content-length` (the handler then streams it; HTTP/2 itself forbids the field, so it cannot be the client's);
 * - `httpVersionMajor`/`Minor` 1.1 (the request guard accepts HTTP/1 only); `httpVersion` stays `2.0`;
 * - `res.writeHead` drops connection-specific fields and repeats of single-value fields;
 * - `res.writableFinished` is true only for a response ended by us, not for a stream the client reset;
 * - `res.socket.destroySoon()` / `destroy()` (the error path closing "the connection") end this stream
 *   with RST_STREAM(NO_ERROR) instead of the whole TLS session and its other streams;
 * - a request body still arriving after `requestTimeoutMs` cancels the stream.
 */
export function adaptHttp2Exchange(req: Http2ServerRequest, res: Http2ServerResponse, requestTimeoutMs: number): void {
  const stream = req.stream
  const source = req.rawHeaders
  const raw: string[] = []
  let authority = ''
  let host: string | undefined
  let hasLength = false
  let cookie: string | undefined
  for (let i = 0; i < source.length; i += 2) {
    const name = source[i] as string
    const value = source[i + 1] as string
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':authority') authority = value
      continue
    }
    if (name === 'cookie') {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`
      continue
    }
    if (name === 'host') host = host === undefined ? value : host
    else if (name === 'content-length') hasLength = true
    raw.push(name, value)
  }
  if (host === undefined) {
    if (authority !== '') raw.unshift('host', authority)
  } else if (authority !== '' && host.toLowerCase() !== authority.toLowerCase()) {
    // RFC 9113 8.3.1: a Host naming another entity than :authority makes the request malformed. Both are
    // kept: the request guard answers a request with two Host fields 400, as it does on HTTP/1.1.
    raw.unshift('host', authority)
  }
  if (cookie !== undefined) raw.push('cookie', cookie)
  if (!hasLength && !stream.endAfterHeaders && !req.complete) raw.push('transfer-encoding', 'chunked')
  define(req, 'rawHeaders', raw)
  define(req, 'httpVersionMajor', 1)
  define(req, 'httpVersionMinor', 1)

  const writeHead = res.writeHead.bind(res) as (status: number, headers?: unknown) => Http2ServerResponse
  define(res, 'writeHead', (status: number, a?: unknown, b?: unknown): Http2ServerResponse => {
    const headers = typeof a === 'string' ? b : a
    return writeHead(status, Array.isArray(headers) ? filterFlat(headers as string[]) : filterObject(headers))
  })

  const socket = res.socket
  const endStream = (): void => {
    if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR)
  }
  const view = new Proxy(socket as object, {
    get(target, prop) {
      if (prop === 'destroySoon' || prop === 'destroy' || prop === 'end') return endStream
      return Reflect.get(target, prop) as unknown
    },
  })
  define(res, 'socket', view)
  define(res, 'connection', view)
  // The compat getter reads the stream's writable side, which a client's RST_STREAM also finishes: the
  // handler would take a cancelled stream for a delivered response and never release its exchange.
  Object.defineProperty(res, 'writableFinished', {
    configurable: true,
    get: () => res.writableEnded && stream.writableFinished && (stream.rstCode ?? constants.NGHTTP2_NO_ERROR) === constants.NGHTTP2_NO_ERROR,
  })

  if (!stream.endAfterHeaders && requestTimeoutMs > 0) {
    const timer = setTimeout(() => {
      if (!req.complete && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL)
    }, requestTimeoutMs)
    timer.unref()
    stream.once('close', () => clearTimeout(timer))
    req.once('end', () => clearTimeout(timer))
  }
}

function define(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, configurable: true, writable: true, enumerable: false })
}

function filterFlat(headers: readonly string[]): string[] {
  const out: string[] = []
  let seen: Set<string> | undefined
  for (let i = 0; i < headers.length; i += 2) {
    const name = String(headers[i]).toLowerCase()
    const value = headers[i + 1] as string
    if (CONNECTION_SPECIFIC.has(name) || (name === 'te' && value.toLowerCase() !== 'trailers')) continue
    if (SINGLE_VALUE.has(name)) {
      if ((seen ??= new Set()).has(name)) continue
      seen.add(name)
    }
    out.push(name, value)
  }
  return out
}

function filterObject(headers: unknown): Record<string, unknown> | undefined {
  if (headers === null || typeof headers !== 'object') return undefined
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (!CONNECTION_SPECIFIC.has(k.toLowerCase())) out[k] = v
  }
  return out
}
