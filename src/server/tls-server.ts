import { createServer as createPlainServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createSecureServer } from 'node:http2'
import type { Socket } from 'node:net'
import { createServer as createTlsSocketServer, type Server as TlsServer, type TlsOptions as TlsSecureOptions, type TLSSocket } from 'node:tls'
import type { ClientLimits, TlsConfig } from '../config/index.js'
import { createRequestHandler, createUpgradeHandler, type ProxyRuntime } from '../proxy/index.js'
import { handleClientError } from './client-errors.js'
import { ConnectionRegistry, trackResponses } from './connection-registry.js'
import { drainServer } from './drain.js'
import { watchSendDeadline } from './send-deadline.js'
import { deferContinue } from './expect-continue.js'
import { lingerOnClose } from './lingering-close.js'
import { ownHttp1 } from './http-server.js'
import { Http1Connections, serveHttp1 } from './http1/index.js'
import { CertificateStore, type CertificateStoreOptions } from './certificates.js'
import { listenOn, type Listening, type ListenSocketOptions } from './listen-options.js'
import { applyHttp1Limits, createHttp2RequestListener, http2ServerOptions, trackSessions, type Http2Limits } from './http2-server.js'

/** Options of {@link createTlsServer}. */
export interface TlsServerOptions {
  /** HTTP/2 session limits (used when `tls.http2`). */
  http2?: Http2Limits
  /** Certificate watching and reporting (`onReload` receives every reload and every rejected file). */
  certificates?: Omit<CertificateStoreOptions, 'minVersion'>
}

/** A TLS listener built by {@link createTlsServer}. */
export interface TlsListener {
  /** `tls.Server` serving HTTP/1.1 itself, `https.Server` (`LB_HTTP1_SERVER=node`) or `Http2SecureServer`. */
  readonly server: TlsServer
  readonly certificates: CertificateStore
  /** Listens on `tls.host:tls.port` (port 0 allowed) with the socket options of the plain listener. */
  listen(socket?: ListenSocketOptions): Promise<void>
  /** Connections open on the listener (all its sockets). */
  getConnections(callback: (err: Error | null, count: number) => void): void
  /** The bound port (useful with port 0). */
  port(): number
  /**
   * Rebuilds the certificate contexts now, from `certificates` when given (a configuration reload), else
   * from the same files. True when the new set is in use; false when it failed and the old one stays.
   */
  reloadCertificates(certificates?: TlsConfig['certificates']): boolean
  /**
   * Graceful stop: no new connections, HTTP/2 sessions get GOAWAY and finish their streams, HTTP/1.1
   * connections end after their next response (`Connection: close`) or once idle for a second, in-flight
   * requests finish; after `timeoutMs` whatever is left is destroyed. Sets `runtime.shuttingDown`.
   */
  drain(timeoutMs: number): Promise<void>
  /** Immediate stop: stops watching the certificates and destroys every connection. */
  close(): Promise<void>
}

/**
 * The TLS listener of a worker. Certificates by SNI with a default (the first), TLS 1.2+ and AEAD-only
 * ciphers by default, files watched and reloaded without a restart (see certificates.ts). Requests go to
 * the same proxy handler as the plain listener, with `X-Forwarded-Proto: https`.
 * - `tls.http2` false: HTTP/1.1 served as on the plain listener (the balancer's own HTTP/1.1 code on a
 *   `tls.Server`, or `https.Server`; see {@link createHttp1TlsServer}) with the limits of `createHttpServer`
 *   (deadlines, head size, header count, client-error answers) and WebSocket/Upgrade tunnelling.
 * - `tls.http2` true: `http2.createSecureServer` with ALPN `h2, http/1.1` (HTTP/1.1 clients, WebSocket
 *   included, are served as above on the same port) and the session limits of {@link http2ServerOptions}.
 * Throws an `LB_ERR_CONFIG` LbError when the initial certificates cannot be loaded.
 */
export function createTlsServer(runtime: ProxyRuntime, limits: ClientLimits, tls: TlsConfig, options: TlsServerOptions = {}): TlsListener {
  const certificates = CertificateStore.load(tls.certificates, { ...options.certificates, minVersion: tls.minVersion })
  const secure: TlsSecureOptions = {
    ...certificates.defaultSecureOptions,
    SNICallback: certificates.sniCallback,
    // A peer that never completes its handshake holds a socket no longer than a client may take for its headers.
    handshakeTimeout: limits.headerTimeoutMs,
  }
  const handler = createRequestHandler(runtime, 'https')
  const upgrade = createUpgradeHandler(runtime, 'https')
  const registry = new ConnectionRegistry()
  const onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => handleClientError(err, socket, limits.maxUrlBytes, registry)
  let server: TlsServer
  if (tls.http2) {
    const h2 = createSecureServer({ ...secure, ...http2ServerOptions(limits, options.http2) })
    applyHttp1Limits(h2, limits)
    trackSessions(h2, options.http2?.idleTimeoutMs ?? 60_000, registry.sessions)
    // HTTP/2 sessions end by GOAWAY in a drain, never by the idle sweep of HTTP/1.1 connections.
    h2.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2') registry.mark(socket, 'http2')
    })
    // The HTTP/1.1 clients of the same port (ALPN http/1.1).
    trackResponses(h2, registry)
    h2.on('request', createHttp2RequestListener(handler, limits))
    h2.on('upgrade', upgrade)
    h2.on('clientError', onClientError)
    server = h2
  } else {
    server = createHttp1TlsServer(secure, limits, handler, registry)
    server.on('upgrade', upgrade)
    server.on('clientError', onClientError)
  }
  certificates.attach(server)
  // Failed handshakes (TLS 1.0/1.1, no shared cipher, scanners) only cost their socket.
  server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy())
  registry.attach(server, 'secureConnection')

  let drained: Promise<void> | undefined
  let listening: Listening | undefined
  const drain = (timeoutMs: number): Promise<void> => {
    if (drained === undefined) {
      certificates.close()
      listening?.closeExtra()
      drained = drainServer(server, runtime, timeoutMs)
    }
    return drained
  }

  return {
    server,
    certificates,
    listen: async (socket = {}) => {
      listening = await listenOn(server, tls.port, tls.host, socket)
    },
    getConnections: (callback) => (listening ?? server).getConnections(callback),
    port: () => {
      const a = server.address()
      return typeof a === 'object' && a !== null ? a.port : 0
    },
    reloadCertificates: (list) => certificates.reload(list, 'manual'),
    drain,
    close: () => drain(0),
  }
}

/**
 * HTTP/1.1 over TLS: a `tls.Server` whose decrypted connections the balancer's own HTTP/1.1 code serves
 * (as the plain listener; Node's llhttp binding reads the TLS stream), or an `https.Server` when that binding
 * is not available or `LB_HTTP1_SERVER=node`. Both have the limits of `createHttpServer`.
 */
function createHttp1TlsServer(secure: TlsSecureOptions, limits: ClientLimits, handler: ReturnType<typeof createRequestHandler>, registry: ConnectionRegistry): TlsServer {
  const { binding, options } = ownHttp1(limits)
  if (binding === undefined) {
    const https = createHttpsServer({ ...secure, ALPNProtocols: ['http/1.1'], ...options })
    https.maxHeadersCount = options.maxHeadersCount
    trackResponses(https, registry)
    ;(https as typeof https & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
    deferContinue(https)
    lingerOnClose(https, 'secureConnection')
    https.on('request', handler)
    watchSendDeadline(https, limits.sendTimeoutMs, 'secureConnection')
    return https
  }
  const server = createTlsSocketServer({ ...secure, ALPNProtocols: ['http/1.1'], allowHalfOpen: true, noDelay: true })
  watchSendDeadline(server, limits.sendTimeoutMs, 'secureConnection')
  serveHttp1(server, 'secureConnection', new Http1Connections(binding, options, handler, server, registry))
  return server
}

/**
 * The plain-HTTP listener of `tls.redirectHttp`: every request gets `308 Permanent Redirect` to
 * `https://<host>:<httpsPort><path>` (the port is omitted when 443). The host is the request's `Host`
 * without its port; a missing or malformed `Host` gets 400 (never a redirect to a name the client did
 * not ask for). 308 keeps the method and body, unlike 301. Listen on it like any `http.Server`.
 */
export function createRedirectServer(httpsPort: number, limits?: Pick<ClientLimits, 'headerTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'>): HttpServer {
  const server = createPlainServer({
    headersTimeout: limits?.headerTimeoutMs ?? 10_000,
    requestTimeout: limits?.requestTimeoutMs ?? 60_000,
    keepAliveTimeout: limits?.keepAliveTimeoutMs ?? 5_000,
    maxHeaderSize: 16 * 1024,
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const host = hostWithoutPort(req.headers.host)
    if (host === undefined) {
      res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', connection: 'close' })
      res.end(JSON.stringify({ error: 'missing or invalid Host header', code: 'LB_ERR_BAD_REQUEST' }))
      return
    }
    const url = req.url ?? '/'
    const path = url.startsWith('/') && !url.startsWith('//') ? url : '/'
    const location = `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}${path}`
    res.writeHead(308, { location, 'content-length': '0', 'cache-control': 'no-store' })
    res.end()
    // Do not read a request body we are not going to use.
    if (!req.complete) req.socket.destroySoon()
  })
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    else socket.destroy()
  })
  return server
}

/** `example.com:8080` -> `example.com`; `[::1]:80` -> `[::1]`; undefined when absent or not a host name/IP. */
function hostWithoutPort(host: string | undefined): string | undefined {
  if (host === undefined) return undefined
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))(?::\d{1,5})?$/.exec(host.trim())
  return m?.[1]?.toLowerCase()
}
