import { Server as NetServer, type Socket } from 'node:net'
import { Http1Connection, Phase, type ConnectionOwner } from './connection.js'
import type { Http1Request, Http1Response } from './message.js'
import type { ParserBinding } from './parser-binding.js'

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
 * The balancer's HTTP/1.1 listener: a `net.Server` whose connections are parsed by Node's own llhttp
 * binding and answered by {@link Http1Response}. It emits what `http.Server` emits for the parts the
 * balancer uses (`upgrade`, `clientError`, `connection`) and calls one request listener directly.
 * Deadlines are checked by one sweep over the connections, as Node's server does, not a timer per socket.
 */
export class Http1Server extends NetServer implements ConnectionOwner {
  readonly maxHeaderSize: number
  readonly maxHeadersCount: number
  private readonly open = new Set<Http1Connection>()
  private sweeper: NodeJS.Timeout | undefined

  constructor(
    readonly binding: ParserBinding,
    private readonly options: Http1ServerOptions,
    private readonly listener: RequestListener,
  ) {
    // Half-open like Node's server: a client's FIN is handled by the connection, not by net.
    super({ allowHalfOpen: true, noDelay: true })
    this.maxHeaderSize = options.maxHeaderSize
    this.maxHeadersCount = options.maxHeadersCount
    this.on('connection', (socket: Socket) => this.open.add(new Http1Connection(this, socket)))
    this.on('listening', () => {
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(10, options.connectionsCheckingInterval))
      this.sweeper.unref()
    })
    this.on('close', () => {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    })
  }

  onRequest(req: Http1Request, res: Http1Response): void {
    this.listener(req, res)
  }

  /** llhttp stops at an `Upgrade` and at `CONNECT` alike; as in `http.Server`, the second is a `connect` event. */
  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void {
    const event = req.method === 'CONNECT' ? 'connect' : 'upgrade'
    if (this.listenerCount(event) > 0) this.emit(event, req, socket, head)
    else socket.destroy()
  }

  onClientError(err: Error, socket: Socket): void {
    if (this.listenerCount('clientError') > 0) this.emit('clientError', err, socket)
    else socket.destroy()
  }

  forget(conn: Http1Connection): void {
    this.open.delete(conn)
  }

  /** Destroys every connection (the end of a drain). */
  closeAllConnections(): void {
    for (const c of this.open) c.socket.destroy()
  }

  /** Closes the keep-alive connections that wait for a request. */
  closeIdleConnections(): void {
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
