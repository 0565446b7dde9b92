import { EventEmitter } from 'node:events'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { sameToken } from '../../core/index.js'

/** What a message needs from the connection it arrived on. */
export interface MessageConnection {
  readonly socket: Socket
  /** The response was ended: start the next request, go idle or close. */
  responseDone(res: Http1Response): void
  /** Request body back-pressure: too much buffered / buffer drained. */
  pauseBody(): void
  resumeBody(): void
}

/** Body bytes buffered per request before the socket stops being read. */
const BODY_HIGH_WATER = 64 * 1024

/**
 * One request as the proxy sees it: the fields of `IncomingMessage` the handler reads, and the body as
 * an async iterator pulled at the backend's pace (the socket is paused while 64 KiB wait unread).
 */
export class Http1Request {
  readonly httpVersion: string
  /** The whole message (head and body) was received. */
  complete = false
  private readonly chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  private failure: Error | undefined
  private wake: (() => void) | undefined
  private dumping = false
  /** Its response owes `100 Continue`, sent on the first read of the body. */
  continueFor: Http1Response | undefined
  private headerObject: Record<string, string> | undefined

  constructor(
    private readonly conn: MessageConnection,
    readonly socket: Socket,
    readonly method: string,
    readonly url: string,
    readonly rawHeaders: string[],
    readonly httpVersionMajor: number,
    readonly httpVersionMinor: number,
  ) {
    this.httpVersion = httpVersionMinor === 1 && httpVersionMajor === 1 ? '1.1' : `${httpVersionMajor}.${httpVersionMinor}`
  }

  /** Lower-case name -> value (repeated fields joined with `, `), built on first use (upgrades only). */
  get headers(): Record<string, string> {
    if (this.headerObject !== undefined) return this.headerObject
    const out: Record<string, string> = {}
    for (let i = 0; i < this.rawHeaders.length; i += 2) {
      const name = (this.rawHeaders[i] as string).toLowerCase()
      const value = this.rawHeaders[i + 1] as string
      out[name] = Object.hasOwn(out, name) ? `${out[name] as string}, ${value}` : value
    }
    return (this.headerObject = out)
  }

  /** A body chunk from the parser. */
  pushBody(chunk: Buffer): void {
    if (this.dumping) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (this.buffered > BODY_HIGH_WATER) this.conn.pauseBody()
    this.wakeReader()
  }

  /** The parser saw the end of the message. */
  endBody(): void {
    this.complete = true
    this.ended = true
    this.wakeReader()
  }

  /** The connection closed before the body was read to its end. */
  abort(): void {
    if (this.ended) return
    this.failure = Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
    this.wakeReader()
  }

  /** The response ended before the body was read: throw the rest away so the connection can go on. */
  dump(): void {
    this.dumping = true
    this.chunks.length = 0
    this.buffered = 0
    this.conn.resumeBody()
  }

  /**
   * The body, chunk by chunk. Every iterator reads the same queue: a try that stopped early leaves the
   * rest for the next one (what `IncomingMessage.iterator({ destroyOnReturn: false })` gives).
   */
  iterator(_options?: { destroyOnReturn?: boolean }): AsyncIterableIterator<Buffer> {
    const iterator: AsyncIterableIterator<Buffer> = {
      next: () => this.read(),
      return: (value?: unknown) => Promise.resolve({ done: true, value: value as Buffer }),
      [Symbol.asyncIterator]: () => iterator,
    }
    return iterator
  }

  private async read(): Promise<IteratorResult<Buffer>> {
    const owed = this.continueFor
    if (owed !== undefined) {
      this.continueFor = undefined
      owed.writeContinue()
    }
    for (;;) {
      const chunk = this.chunks.shift()
      if (chunk !== undefined) {
        this.buffered -= chunk.length
        if (this.buffered <= BODY_HIGH_WATER / 2) this.conn.resumeBody()
        return { done: false, value: chunk }
      }
      if (this.failure !== undefined) throw this.failure
      if (this.ended) return { done: true, value: undefined }
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  private wakeReader(): void {
    const wake = this.wake
    if (wake === undefined) return
    this.wake = undefined
    wake()
  }
}

let dateValue = ''
let dateSecond = -1

/** The `Date` header value, formatted once per second. */
function httpDate(): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateValue = new Date(second * 1000).toUTCString()
  }
  return dateValue
}


/**
 * One response, written straight to the socket: the head is formatted once and goes out with the first
 * body bytes in one write. Framing follows `ServerResponse`: a body without `Content-Length` is chunked
 * for HTTP/1.1 and close-delimited for HTTP/1.0; HEAD, 1xx, 204 and 304 carry none; `Connection: close`
 * (given, or asked for by the client) closes the connection after it. Events: `drain`, `finish`, `close`.
 */
export class Http1Response extends EventEmitter {
  statusCode = 200
  headersSent = false
  writableEnded = false
  writableFinished = false
  destroyed = false
  private head = ''
  private hasBody = true
  private chunked = false
  /** It waited behind another response (pipelined). */
  queued = false
  /** The client asked for `100 Continue` (see {@link expectContinue}); `sent100`: it went out. */
  private continueExpected = false
  private sent100 = false

  constructor(
    private readonly conn: MessageConnection,
    readonly req: Http1Request,
    /** Keep the connection open after this response (the parser's verdict, then the headers'). */
    public keepAlive: boolean,
  ) {
    super()
  }

  get socket(): Socket | null {
    return this.destroyed ? null : this.conn.socket
  }

  /** Bytes written to the connection that the kernel has not taken yet. */
  get writableLength(): number {
    return this.conn.socket.writableLength
  }

  writeHead(status: number, headers?: readonly string[]): this {
    if (this.headersSent || this.head !== '') return this
    let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`
    let hasLength = false
    let hasDate = false
    let hasConnection = false
    let hasEncoding = false
    // As node:http: a client still waiting for 100 may or may not send the body; the connection cannot go on.
    // Unless the body came whole anyway (pipelined, its 100 never offered): the stream is framed past it.
    let keepAlive = this.keepAlive && !(this.continueExpected && !this.sent100 && !this.req.complete)
    let chunked = false
    if (headers !== undefined) {
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i] as string
        const value = headers[i + 1] as string
        // As node:http: a field that could end the line or the head is refused, never written (response splitting).
        if (!TOKEN.test(name)) throw invalidHeader('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`)
        if (INVALID_VALUE.test(value)) throw invalidHeader('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`)
        switch (name.length) {
          case 4:
            if (sameToken(name, 'date')) hasDate = true
            break
          case 10:
            if (sameToken(name, 'connection')) {
              hasConnection = true
              if (/(?:^|[\s,])close(?:$|[\s,])/i.test(value)) keepAlive = false
            }
            break
          case 14:
            if (sameToken(name, 'content-length')) hasLength = true
            break
          case 17:
            if (sameToken(name, 'transfer-encoding')) {
              hasEncoding = true
              if (/chunked\s*$/i.test(value)) chunked = true
            }
            break
        }
        s += `${name}: ${value}\r\n`
      }
    }
    this.statusCode = status
    this.keepAlive = keepAlive
    this.chunked = chunked
    this.hasBody = !(this.req.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200))
    if (!this.hasBody) this.chunked = false
    else if (!hasLength && !hasEncoding) {
      if (this.req.httpVersionMinor >= 1) {
        s += 'transfer-encoding: chunked\r\n'
        this.chunked = true
      } else {
        this.keepAlive = false // HTTP/1.0: the body ends with the connection
      }
    }
    if (!hasDate) s += `date: ${httpDate()}\r\n`
    if (!hasConnection) {
      if (!this.keepAlive) s += 'connection: close\r\n'
      else if (this.req.httpVersionMinor === 0) s += 'connection: keep-alive\r\n'
    }
    this.head = `${s}\r\n`
    return this
  }

  /** `HTTP/1.1 100 Continue`, before the final response (once). */
  writeContinue(): void {
    if (this.headersSent || this.head !== '' || this.sent100 || this.destroyed) return
    this.sent100 = true
    this.conn.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1')
  }

  /**
   * The request carries `Expect: 100-continue`: 100 is sent when its body is first read, if ever. A
   * pipelined request (`offer` false) gets none, as from node:http, which hands it to the proxy while the
   * response before it is still going out; without 100 the connection closes after its response.
   */
  expectContinue(offer: boolean): void {
    this.continueExpected = true
    if (offer) this.req.continueFor = this
  }

  /**
   * Writes body bytes (the head first, with them). False only when bytes wait in the socket's buffer: a
   * chunk larger than the socket's high-water mark makes `socket.write` answer false even when the kernel
   * took all of it at once, and a caller that paused its source for a `drain` would pay a pause and a
   * resume per response for nothing.
   */
  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false
    const socket = this.conn.socket
    let ok: boolean
    if (!this.headersSent) {
      if (this.head === '') this.writeHead(this.statusCode)
      this.headersSent = true
      const small = smallLatin1(chunk)
      // Head and a small body as one string: one plain write instead of a gathered one (most responses).
      if (small !== undefined && this.hasBody && !this.chunked) return socket.write(this.head + small, 'latin1')
      socket.cork()
      socket.write(this.head, 'latin1')
      ok = this.writeBody(socket, chunk)
      socket.uncork()
    } else if (!this.chunked) ok = this.writeBody(socket, chunk)
    else {
      socket.cork()
      ok = this.writeBody(socket, chunk)
      socket.uncork()
    }
    return ok || socket.writableLength === 0
  }

  /** Sends the head now, alone (the body is slow to come); the body's bytes follow as they are written. */
  flushHeaders(): void {
    if (this.headersSent || this.writableEnded || this.destroyed) return
    if (this.head === '') this.writeHead(this.statusCode)
    this.headersSent = true
    this.conn.socket.write(this.head, 'latin1')
  }

  end(body?: Buffer | string): this {
    if (this.writableEnded) return this
    const socket = this.conn.socket
    if (!this.destroyed) {
      socket.cork()
      if (body !== undefined && body.length > 0) this.write(body)
      else if (!this.headersSent) this.write('')
      if (this.chunked) socket.write('0\r\n\r\n', 'latin1')
      socket.uncork()
    }
    this.writableEnded = true
    this.writableFinished = !this.destroyed
    this.conn.responseDone(this)
    process.nextTick(emitFinish, this)
    return this
  }

  /** Cuts the response (and the connection) short. */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.conn.socket.destroy()
  }

  /** The connection closed before this response ended. */
  closed(): void {
    if (this.writableEnded) return
    this.destroyed = true
    this.writableEnded = true
    this.emit('close')
  }

  private writeBody(socket: Socket, chunk: Buffer | string): boolean {
    const length = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
    if (!this.hasBody || length === 0) return !socket.writableNeedDrain
    if (!this.chunked) return socket.write(chunk)
    socket.write(`${length.toString(16)}\r\n`, 'latin1')
    socket.write(chunk)
    return socket.write('\r\n', 'latin1')
  }
}

/** A header name node:http accepts (an RFC 9110 token). */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/
/** A header value character node:http refuses: controls other than HTAB (CR, LF, NUL among them) and DEL. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/** The error node:http throws for a header it will not write. */
function invalidHeader(code: string, message: string): TypeError {
  return Object.assign(new TypeError(message), { code })
}

/** Bodies up to this size go out in one string with the head. */
const SMALL_BODY = 2048

/**
 * `chunk` as a latin1 string (byte for byte) when it is small enough to join the head, else undefined.
 * Strings qualify only when ASCII, where their UTF-8 and latin1 bytes agree.
 */
function smallLatin1(chunk: Buffer | string): string | undefined {
  if (chunk.length > SMALL_BODY) return undefined
  if (typeof chunk !== 'string') return chunk.length === 0 ? '' : chunk.toString('latin1')
  return Buffer.byteLength(chunk) === chunk.length ? chunk : undefined
}

function emitFinish(res: Http1Response): void {
  if (res.writableFinished) res.emit('finish')
  res.emit('close')
}
