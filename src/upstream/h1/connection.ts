import { connect, type Socket } from 'node:net'
import type { Dispatcher } from 'undici'
import type { ResponseParser, ResponseParserClass } from './response-parser.js'
import { sameToken } from '../../core/index.js'
import { codedError } from './errors.js'
import { requestHead, type RequestHead } from './request-head.js'
import { isBytes, streamBody, writeWhole } from './request-body.js'
import { endLoan, lend, readBuffer } from './read-buffer.js'

/** Timeouts of one upstream connection, in ms (0 = none). */
export interface H1Timeouts {
  connectMs: number
  headersMs: number
  bodyMs: number
  idleMs: number
}

/** What a connection tells its dispatcher. */
export interface ConnectionOwner {
  readonly parserClass: ResponseParserClass
  readonly timeouts: H1Timeouts
  readonly maxHeaderSize: number
  /** The exchange ended and the connection can carry another request. */
  idle(conn: H1Connection): void
  /** The connection is gone (closed, failed, not reusable). */
  gone(conn: H1Connection): void
  /**
   * A reused connection closed before the request got any response byte: the dispatcher may send the
   * request again on a fresh connection. Returns true when it took the request over.
   */
  retryStale(conn: H1Connection, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
}

/** What a connection asks of a handler beyond undici's interface, when the handler has it. */
export interface H1HandlerExtras {
  /**
   * Whether the handler may still read the last chunk `onData` gave it (it queued the chunk to be written
   * later). Body chunks are lent (see `read-buffer.ts`): a handler without this method is taken to keep
   * every chunk, and each one is then memory of its own.
   */
  keepsLastChunk?(): boolean
  /** The response's head came and its body goes on past the bytes read so far (a streamed or stalled body). */
  onBodyPending?(): void
}

const PARSE_FAILED = -1
const SKIP_BODY = 1
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1')
/** `H`: the first byte of a status line (`HTTP/1.1 200 OK`). */
const H = 0x48

/**
 * One keep-alive HTTP/1.1 connection to a backend on a plain `net` socket, read by llhttp in RESPONSE
 * mode. Carries one request at a time (no pipelining, as undici's pool is configured). Back-pressure:
 * the request body is written as the socket drains; the response pauses the socket while the handler's
 * `onData` answers false, until the handler calls `resume`.
 */
export class H1Connection {
  readonly socket: Socket
  /** Requests this connection has carried (a stale close is retried only on a reused one). */
  used = 0
  connected = false
  private readonly parser: ResponseParser
  private handler: Dispatcher.DispatchHandler | undefined
  private opts: Dispatcher.DispatchOptions | undefined
  private partial: string[] = []
  /** The packet being parsed (see {@link onData}): raw bodies are forwarded from it. */
  private chunk: Buffer | undefined
  /** Where the next response head starts in {@link chunk}; -1: unknown (a head began in an earlier packet). */
  private headFrom = 0
  /** Where the raw body's bytes start in {@link chunk}. */
  private bodyFrom = 0
  /** Body bytes still to forward from the packets as they are (-1: the body is not forwarded raw). */
  private rawLeft = -1
  /** A response head began and is not complete yet. */
  private inHead = false
  private gotBytes = false
  private headersDone = false
  /** The response's body goes on past the packet its head came in (the socket's inactivity timer runs, when set). */
  private bodyPending = false
  private keepAlive = false
  private requestSent = false
  private bodyStarted = false
  private skipBody = false
  private done = true
  /** The request asked for the connection's close (`connection: close` sent). */
  private closeAfter = false
  /** The response ended and the connection may carry another request once the packet is read. */
  private reusable = false
  /** A message began while no request was waiting for one. */
  private stray = false
  /** A streamed body waiting for the connection to be established. */
  private pendingBody: (() => void) | undefined
  private closed = false
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly owner: ConnectionOwner,
    host: string,
    port: number,
    /** `Host` for requests that carry none (HTTP/1.0 clients): the endpoint's authority. */
    private readonly authority: string,
  ) {
    const P = owner.parserClass
    const parser = new P()
    parser.initialize(P.RESPONSE, {}, owner.maxHeaderSize, 0)
    parser[P.kOnMessageBegin] = this.onMessageBegin
    parser[P.kOnHeaders] = this.onHeaders
    parser[P.kOnHeadersComplete] = this.onHeadersComplete
    parser[P.kOnBody] = this.onBody
    parser[P.kOnMessageComplete] = this.onMessageComplete
    this.parser = parser
    // Reads go to the process's one read buffer (see read-buffer.ts), not to a new buffer per read.
    this.socket = connect({ host, port, noDelay: true, onread: { buffer: readBuffer, callback: this.onRead } })
    const connectMs = owner.timeouts.connectMs
    if (connectMs > 0) this.arm(connectMs, () => this.destroy(codedError(`connect timeout (${connectMs} ms)`, 'UND_ERR_CONNECT_TIMEOUT')))
    this.socket.once('connect', this.onConnect)
    this.socket.on('end', this.onEnd)
    this.socket.on('error', this.onError)
    this.socket.on('close', this.onClose)
    this.socket.on('timeout', this.onBodyTimeout)
  }

  /** Sends one request; the handler hears about it as it would from undici. */
  send(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    this.opts = opts
    this.handler = handler
    this.done = false
    this.gotBytes = false
    this.headersDone = false
    this.bodyPending = false
    this.requestSent = false
    this.bodyStarted = false
    this.skipBody = opts.method === 'HEAD'
    this.rawLeft = -1
    this.used++
    if (this.connected) this.disarm() // the idle timer; a connect timer stays armed
    handler.onConnect?.((err?: Error) => this.abort(err ?? codedError('request aborted', 'UND_ERR_ABORTED')))
    if (this.done) return // aborted at once
    const body = opts.body
    const r = requestHead(opts.method, opts.path, (opts.headers as string[] | null | undefined) ?? [], this.authority)
    this.closeAfter = r.close
    if (this.connected) this.armHeaders()
    if (body === null || body === undefined || typeof body === 'string' || isBytes(body)) {
      writeWhole(this.socket, r, body)
      this.requestSent = true
      return
    }
    // Not a byte of the body is pulled before the connection stands (as undici): a refused connection
    // leaves the client's body whole for the retry elsewhere.
    const stream = body as unknown as AsyncIterable<Buffer>
    if (this.connected) this.writeBody(stream, r)
    else this.pendingBody = () => this.writeBody(stream, r)
  }

  /** Closes an idle connection. */
  close(): void {
    this.closed = true
    this.socket.end()
  }

  destroy(err?: Error): void {
    this.fail(err ?? codedError('connection closed', 'UND_ERR_SOCKET'))
    this.socket.destroy()
  }

  /** The keep-alive idle timer: a connection unused for `idleMs` is closed. */
  startIdle(): void {
    const ms = this.owner.timeouts.idleMs
    if (ms > 0) this.arm(ms, () => this.close())
  }

  private writeBody(body: AsyncIterable<Buffer>, r: RequestHead): void {
    // From the first pull on, the request cannot be sent again from here (the body is the client's).
    this.bodyStarted = true
    void streamBody(this.socket, r, body, {
      isDone: () => this.done,
      sent: () => (this.requestSent = true),
      failed: (err) => {
        // The body failed (client gone, size limit, wrong length): the backend has half a request.
        this.fail(err)
        this.socket.destroy()
      },
    })
  }

  private readonly onConnect = (): void => {
    this.connected = true
    this.disarm()
    const body = this.pendingBody
    this.pendingBody = undefined
    if (this.done) return
    this.armHeaders()
    body?.()
  }

  private armHeaders(): void {
    const ms = this.opts?.headersTimeout ?? this.owner.timeouts.headersMs
    if (ms > 0) this.arm(ms, () => this.destroy(codedError(`no response headers within ${ms} ms`, 'UND_ERR_HEADERS_TIMEOUT')))
  }

  /** Handed to handlers with each response: reading goes on after a pause for back-pressure. */
  private readonly resumeSocket = (): void => {
    if (!this.socket.destroyed) this.socket.resume()
  }

  /** `onread`'s callback; true: go on reading (a pause is asked for with `socket.pause()`). */
  private readonly onRead = (bytes: number, buffer: Uint8Array): boolean => {
    this.onData((buffer as Buffer).subarray(0, bytes))
    return true
  }

  /** One read; `data` is only valid until this returns (the next read on any socket overwrites it). */
  private onData(data: Buffer): void {
    this.gotBytes = true
    this.chunk = data
    this.headFrom = this.inHead ? -1 : 0
    this.bodyFrom = 0
    const ret = this.parser.execute(data)
    this.chunk = undefined
    if (ret instanceof Error) return this.destroy(codedError(`invalid response: ${(ret as Error & { code?: string }).code ?? ret.message}`, 'UND_ERR_INVALID_RESPONSE', ret))
    // A raw body that goes on past this packet: everything after its start here is body (llhttp counted it).
    if (this.rawLeft > 0 && !this.done) this.forwardRaw(data)
    // A body that goes on past this packet (most end in the packet their head came in, and pay for nothing here).
    if (this.headersDone && !this.done && !this.bodyPending) this.onBodyPending()
    // Back in the pool only once the whole packet was read: bytes after the end of the response (a second
    // response nobody asked for) must never be taken as the answer to the next request sent here.
    if (this.stray) return this.destroy(codedError('the backend sent bytes after its response', 'UND_ERR_INVALID_RESPONSE'))
    if (!this.reusable) return
    this.reusable = false
    if (this.socket.destroyed) return
    this.socket.resume()
    this.owner.idle(this)
  }

  /** A message starting while no request waits for one: the backend sent more than it was asked for. */
  private readonly onMessageBegin = (): void => {
    this.inHead = true
    if (this.done) this.stray = true
  }

  /** Head fields beyond llhttp's first 32, or (once the head is done) the trailer fields of a chunked body. */
  private readonly onHeaders = (headers: string[]): void => {
    for (const h of headers) this.partial.push(h)
  }

  private readonly onHeadersComplete = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    _method: unknown,
    _url: unknown,
    status: number,
    _message: unknown,
    _upgrade: boolean,
    keepAlive: boolean,
  ): number => {
    let raw = headers
    if (raw === undefined) {
      raw = this.partial
      this.partial = []
    }
    this.inHead = false
    const handler = this.handler
    if (handler === undefined || this.done) return PARSE_FAILED // a response nobody asked for
    // Where this head ends in the packet, when it began in it: the next message (after a 1xx) or the body starts there.
    const headEnd = this.headEnd()
    // Strings, as llhttp gives them: the proxy's attempt takes strings or undici's Buffers (no copy here).
    const fields = raw as unknown as Buffer[]
    if (status < 200) {
      handler.onHeaders?.(status, fields, noop, '')
      return 0
    }
    this.disarm()
    this.headersDone = true
    this.partial = []
    this.keepAlive = keepAlive
    if (handler.onHeaders?.(status, fields, this.resumeSocket, '') === false) this.socket.pause()
    if (this.skipBody || status === 204 || status === 304) return SKIP_BODY
    this.chooseBodyMode(raw, headEnd)
    return 0
  }

  /**
   * The end of the head just parsed in {@link chunk} (-1 when it began in an earlier packet). A head holds no
   * CR or LF but its line ends (llhttp refuses them in fields and the status line), so the first CRLFCRLF
   * after its start ends it. A packet that does not start with a status line there (blank lines before it)
   * is not sliced.
   */
  private headEnd(): number {
    const data = this.chunk
    const from = this.headFrom
    if (data === undefined || from < 0 || data[from] !== H) return (this.headFrom = -1)
    const i = data.indexOf(CRLF2, from)
    return (this.headFrom = i < 0 ? -1 : i + 4)
  }

  /**
   * How the body reaches the handler. Framed by one `Content-Length` (no `Transfer-Encoding`) and with its
   * head's end known in the packet: the body's bytes of each packet as one chunk in lent memory (see
   * read-buffer.ts), counted here as llhttp counts them, with no `kOnBody` callback (Node's binding copies
   * every body chunk into a new Buffer and calls into JavaScript for it, per chunk llhttp sees).
   * Chunked and close-delimited bodies, and a head split across packets: through `kOnBody`.
   */
  private chooseBodyMode(raw: readonly string[], headEnd: number): void {
    const length = headEnd < 0 ? -1 : contentLength(raw)
    const P = this.owner.parserClass
    if (length < 0) {
      this.rawLeft = -1
      this.parser[P.kOnBody] = this.onBody
      return
    }
    this.rawLeft = length
    this.bodyFrom = headEnd
    this.parser[P.kOnBody] = undefined
  }

  /** Hands the raw body's bytes in `data` (from where they start there, at most what is left of the body) to the handler. */
  private forwardRaw(data: Buffer): void {
    const from = this.bodyFrom
    const to = Math.min(data.length, from + this.rawLeft)
    this.bodyFrom = to
    if (to <= from) return
    this.rawLeft -= to - from
    const handler = this.handler
    if (handler?.onData === undefined) return
    const chunk = lend(data, from, to)
    let more: boolean | undefined
    try {
      more = handler.onData(chunk)
    } finally {
      endLoan(chunk, (handler as H1HandlerExtras).keepsLastChunk?.() ?? true)
    }
    if (more === false) this.socket.pause()
  }

  private readonly onBody = (chunk: Buffer): void => {
    if (this.done) return
    if (this.handler?.onData?.(chunk) === false) this.socket.pause()
  }

  private readonly onMessageComplete = (): void => {
    const handler = this.handler
    if (!this.headersDone || handler === undefined || this.done) return
    // The raw body's last bytes are in this packet: they go before the end.
    const data = this.chunk
    if (this.rawLeft > 0 && data !== undefined) this.forwardRaw(data)
    this.rawLeft = -1
    if (this.done) return // the handler gave up on the exchange while taking the bytes
    this.done = true
    if (this.bodyPending && this.owner.timeouts.bodyMs > 0) this.socket.setTimeout(0)
    this.handler = undefined
    this.opts = undefined
    const trailers = this.partial
    this.partial = []
    // A response that ended before its request did leaves the backend reading a body nobody sends.
    const reusable = this.keepAlive && this.requestSent && !this.closed && !this.closeAfter
    handler.onComplete?.(trailers)
    if (reusable && !this.socket.destroyed) this.reusable = true // see onData
    else {
      this.closed = true
      this.socket.destroy()
    }
  }

  /** The body goes on past the packet its head came in: from now on, time without a response byte is limited. */
  private onBodyPending(): void {
    this.bodyPending = true
    const ms = this.owner.timeouts.bodyMs
    if (ms > 0) this.socket.setTimeout(ms)
    ;(this.handler as H1HandlerExtras | undefined)?.onBodyPending?.()
  }

  /** The socket's inactivity timer, armed only while a response body is read past its first packet. */
  private readonly onBodyTimeout = (): void => {
    if (this.done || !this.headersDone) return
    const ms = this.owner.timeouts.bodyMs
    this.destroy(codedError(`no response body bytes for ${ms} ms`, 'UND_ERR_BODY_TIMEOUT'))
  }

  private readonly onEnd = (): void => {
    // A body delimited by the close ends here; anything else in progress is cut short.
    if (!this.done && this.headersDone) this.parser.finish()
    if (!this.done) this.destroy(codedError('the backend closed the connection', 'UND_ERR_SOCKET'))
    else this.socket.destroy()
  }

  private readonly onError = (err: Error): void => {
    this.fail(err)
  }

  private readonly onClose = (): void => {
    this.disarm()
    this.closed = true
    if (!this.done) this.fail(codedError('the backend closed the connection', 'UND_ERR_SOCKET'))
    this.owner.gone(this)
    setImmediate(() => this.parser.close())
  }

  private abort(err: Error): void {
    if (this.done) return
    this.fail(err)
    this.socket.destroy()
  }

  /** Ends the exchange in progress with `err`, or retries it on a fresh connection when it was stale. */
  private fail(err: Error): void {
    this.closed = true
    this.pendingBody = undefined
    if (this.done) return
    this.done = true
    this.disarm()
    const handler = this.handler
    const opts = this.opts
    this.handler = undefined
    this.opts = undefined
    if (handler === undefined || opts === undefined) return
    // A reused socket the backend closed while idle: nothing reached it that it answered. Sent again once,
    // on a fresh connection, when the request can be: it has no body, or none of its body was pulled yet.
    const code = (err as { code?: string }).code ?? ''
    const stale = this.used > 1 && !this.gotBytes && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')
    if (stale && !this.bodyStarted && this.owner.retryStale(this, opts, handler)) return
    handler.onError?.(err)
  }

  private arm(ms: number, fn: () => void): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(fn, ms)
    this.timer.unref()
  }

  private disarm(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}

function noop(): void {}

/**
 * The value of the head's one `Content-Length` field when it frames the body (digits only), or -1: no such
 * field, more than one, or a `Transfer-Encoding` too (llhttp then frames by the encoding or refuses).
 */
function contentLength(raw: readonly string[]): number {
  let length = -1
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 17 && sameToken(name, 'transfer-encoding')) return -1
    if (name.length !== 14 || !sameToken(name, 'content-length')) continue
    if (length >= 0) return -1
    const value = (raw[i + 1] as string).trim()
    if (!/^\d{1,15}$/.test(value)) return -1
    length = Number(value)
  }
  return length
}
