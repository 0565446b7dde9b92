/**
 * The balancer's own HTTP/1.1 connections to one endpoint: a keep-alive pool of `net` sockets read by
 * Node's llhttp in RESPONSE mode, behind the part of undici's `Dispatcher` interface the proxy uses
 * (`dispatch(opts, handler)`, `close()`, `stats.pending`), as `h2-dispatcher.ts` is for HTTP/2. It is
 * chosen for plain `http://` HTTP/1.1 endpoints when the fast path is on (see `fast-path.ts`): no
 * dispatcher queue, no request/response objects, heads serialized once and bodies passed as buffers.
 *
 * Limits and timeouts are the pool's: `maxConnections` (the smaller of `maxConnectionsPerEndpoint` and the
 * breaker's `maxConnections`; requests beyond wait in order), connect, response headers, body (time
 * without response bytes) and keep-alive idle. A request sent on a reused connection that the backend
 * closed before any response byte is sent once more on a fresh connection when it has no body or none
 * of its body was read yet (the backend closed an idle socket as we reused it: it saw nothing).
 */
import type { Dispatcher } from 'undici'
import { H1Connection, type ConnectionOwner, type H1Timeouts } from './connection.js'
import { codedError } from './errors.js'
import type { ResponseParserClass } from './response-parser.js'

/** Options of {@link Http1Dispatcher}; times in ms (0 = none). */
export interface Http1DispatcherOptions extends H1Timeouts {
  /** Most connections to the endpoint (0 = unlimited); beyond it, requests wait for a free one. */
  maxConnections: number
  /** Largest response head accepted (bytes). */
  maxHeaderSize?: number
}

interface Waiting {
  opts: Dispatcher.DispatchOptions
  handler: Dispatcher.DispatchHandler
}

/** Keep-alive HTTP/1.1 connections to one `http://` origin. */
export class Http1Dispatcher implements ConnectionOwner {
  readonly timeouts: H1Timeouts
  readonly maxHeaderSize: number
  private readonly host: string
  private readonly port: number
  private readonly authority: string
  /** Every open connection, busy or idle. */
  private readonly all = new Set<H1Connection>()
  /** Idle connections, most recently used last (reused first: the others may age out). */
  private readonly free: H1Connection[] = []
  private readonly waiting: Waiting[] = []
  private closed = false

  constructor(
    origin: URL,
    readonly parserClass: ResponseParserClass,
    private readonly options: Http1DispatcherOptions,
  ) {
    this.host = origin.hostname.startsWith('[') ? origin.hostname.slice(1, -1) : origin.hostname
    this.port = Number(origin.port || 80)
    this.authority = origin.host
    this.timeouts = { connectMs: options.connectMs, headersMs: options.headersMs, bodyMs: options.bodyMs, idleMs: options.idleMs }
    this.maxHeaderSize = options.maxHeaderSize ?? 64 * 1024
  }

  /** Requests waiting for a connection (circuit breaker `maxPending`). */
  get stats(): { pending: number; connected: number; free: number } {
    return { pending: this.waiting.length, connected: this.all.size, free: this.free.length }
  }

  /** Sends one request; the handler hears about it as it would from undici. */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closed) {
      queueMicrotask(() => handler.onError?.(codedError('dispatcher closed', 'UND_ERR_CLOSED')))
      return false
    }
    const conn = this.connection()
    if (conn === undefined) {
      this.waiting.push({ opts, handler })
      return false
    }
    conn.send(opts, handler)
    return true
  }

  /** Closes idle connections now and busy ones once their exchange ends; refuses what waits. */
  async close(): Promise<void> {
    this.closed = true
    for (const w of this.waiting.splice(0)) w.handler.onError?.(codedError('dispatcher closed', 'UND_ERR_CLOSED'))
    for (const c of this.free.splice(0)) c.close()
    await Promise.all([...this.all].map((c) => (c.socket.destroyed ? undefined : new Promise<void>((resolve) => c.socket.once('close', () => resolve())))))
  }

  /** Ends every connection at once. */
  async destroy(): Promise<void> {
    this.closed = true
    for (const w of this.waiting.splice(0)) w.handler.onError?.(codedError('dispatcher destroyed', 'UND_ERR_DESTROYED'))
    for (const c of [...this.all]) c.destroy()
  }

  idle(conn: H1Connection): void {
    if (this.closed) return conn.close()
    const next = this.waiting.shift()
    if (next !== undefined) return conn.send(next.opts, next.handler)
    this.free.push(conn)
    conn.startIdle()
  }

  gone(conn: H1Connection): void {
    this.all.delete(conn)
    const i = this.free.indexOf(conn)
    if (i !== -1) this.free.splice(i, 1)
    // Room for one more connection: a waiting request may have it.
    const next = this.waiting.length > 0 && !this.closed ? this.connection() : undefined
    if (next !== undefined) {
      const w = this.waiting.shift() as Waiting
      next.send(w.opts, w.handler)
    }
  }

  retryStale(conn: H1Connection, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closed) return false
    // Out of the pool before the fresh one opens, so the limit counts the new one only.
    this.all.delete(conn)
    const fresh = this.open()
    queueMicrotask(() => fresh.send(opts, handler))
    return true
  }

  /** An idle connection, a new one within the limit, or undefined when the limit is reached. */
  private connection(): H1Connection | undefined {
    const reused = this.free.pop()
    if (reused !== undefined) return reused
    const max = this.options.maxConnections
    if (max > 0 && this.all.size >= max) return undefined
    return this.open()
  }

  private open(): H1Connection {
    const conn = new H1Connection(this, this.host, this.port, this.authority)
    this.all.add(conn)
    return conn
  }
}
