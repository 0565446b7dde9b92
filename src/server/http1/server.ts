import type { EventEmitter } from 'node:events'
import { Server as NetServer, type Socket } from 'node:net'
import { Http1Connection, Phase, type ConnectionOwner } from './connection.js'
import type { Http1Request, Http1Response } from './message.js'
import type { ParserBinding } from './parser-binding.js'

/** Where a listener keeps the response each connection is writing (the drain and client errors read it). */
export interface ResponseRegistry {
  setWriting(socket: Socket, res: Http1Response | undefined): void
}

export interface Http1ServerOptions {
  /** llhttp's ceiling on the request head (bytes). */
  maxHeaderSize: number
  /** Header fields kept per request beyond llhttp's first batch of 32; 0 = no limit. */
  maxHeadersCount: number
  /** Whole head within this (ms, 0 = none), counted from the connection or the previous response. */
  headersTimeout: number
  /** Whole request (head and body) within this (ms, 0 = none). */
  requestTimeout: number
  /** Idle keep-alive connections are closed after this (ms, 0 = never). */
  keepAliveTimeout: number
  /** How often the three deadlines above are checked (ms). */
  connectionsCheckingInterval: number
}

export type RequestListener = (req: Http1Request, res: Http1Response) => void

/**
 * The connections of one listener (plain or TLS) that the HTTP/1.1 code serves: each socket gets an
 * {@link Http1Connection}; `upgrade`, `connect` and `clientError` are emitted on the server as
 * `http.Server` emits them; requests go to one listener, called directly. Deadlines are checked by one
 * sweep over the connections, as Node's server does, not by a timer per socket.
 */
export class Http1Connections implements ConnectionOwner {
  readonly maxHeaderSize: number
  readonly maxHeadersCount: number
  private readonly open = new Set<Http1Connection>()
  private sweeper: NodeJS.Timeout | undefined

  constructor(
    readonly binding: ParserBinding,
    private readonly options: Http1ServerOptions,
    private readonly listener: RequestListener,
    private readonly server: EventEmitter,
    private readonly registry?: ResponseRegistry,
  ) {
    this.maxHeaderSize = options.maxHeaderSize
    this.maxHeadersCount = options.maxHeadersCount
  }

  /** Starts serving a connected socket (decrypted, for TLS). */
  serve(socket: Socket): void {
    this.open.add(new Http1Connection(this, socket))
  }

  /** Starts / stops the deadline sweep (with the server's `listening` and `close`). */
  start(): void {
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, this.options.connectionsCheckingInterval))
    this.sweeper.unref()
  }

  stop(): void {
    clearInterval(this.sweeper)
    this.sweeper = undefined
  }

  onRequest(req: Http1Request, res: Http1Response): void {
    this.listener(req, res)
  }

  /** llhttp stops at an `Upgrade` and at `CONNECT` alike; as in `http.Server`, the second is a `connect` event. */
  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void {
    const event = req.method === 'CONNECT' ? 'connect' : 'upgrade'
    if (this.server.listenerCount(event) > 0) this.server.emit(event, req, socket, head)
    else socket.destroy()
  }

  onClientError(err: Error, socket: Socket): void {
    if (this.server.listenerCount('clientError') > 0) this.server.emit('clientError', err, socket)
    else socket.destroy()
  }

  writing(socket: Socket, res: Http1Response | undefined): void {
    this.registry?.setWriting(socket, res)
  }

  forget(conn: Http1Connection): void {
    this.open.delete(conn)
  }

  /** Destroys every connection (the end of a drain). */
  closeAll(): void {
    for (const c of this.open) c.socket.destroy()
  }

  /** Closes the keep-alive connections that wait for a request. */
  closeIdle(): void {
    for (const c of this.open) if (c.phase === Phase.Idle && !c.busy) c.socket.destroy()
  }

  private sweep(): void {
    const now = performance.now()
    const { headersTimeout, requestTimeout, keepAliveTimeout } = this.options
    for (const c of this.open) {
      switch (c.phase) {
        case Phase.Idle:
          if (keepAliveTimeout > 0 && now - c.since >= keepAliveTimeout) c.socket.destroy()
          break
        case Phase.Head:
          if ((headersTimeout > 0 && now - c.since >= headersTimeout) || (requestTimeout > 0 && now - c.requestSince >= requestTimeout)) c.timedOut()
          break
        case Phase.Body:
          if (requestTimeout > 0 && now - c.requestSince >= requestTimeout) c.timedOut()
          break
        default:
          break
      }
    }
  }
}

/** Serves HTTP/1.1 on `server`'s sockets of `event` (`connection`, or `secureConnection` on a TLS server). */
export function serveHttp1(server: NetServer, event: 'connection' | 'secureConnection', connections: Http1Connections): void {
  server.on(event, (socket: Socket) => connections.serve(socket))
  server.on('listening', () => connections.start())
  server.on('close', () => connections.stop())
}

/**
 * The balancer's plain HTTP/1.1 listener: a `net.Server` whose connections are parsed by Node's own llhttp
 * binding and answered by {@link Http1Response}, with the methods of `http.Server` the drain uses.
 */
export class Http1Server extends NetServer {
  private readonly served: Http1Connections

  constructor(binding: ParserBinding, options: Http1ServerOptions, listener: RequestListener, registry?: ResponseRegistry) {
    // Half-open like Node's server: a client's FIN is handled by the connection, not by net.
    super({ allowHalfOpen: true, noDelay: true })
    this.served = new Http1Connections(binding, options, listener, this, registry)
    serveHttp1(this, 'connection', this.served)
  }

  closeAllConnections(): void {
    this.served.closeAll()
  }

  closeIdleConnections(): void {
    this.served.closeIdle()
  }
}
