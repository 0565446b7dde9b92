import type { Socket } from 'node:net'
import { sameToken } from '../../core/index.js'
import { lingerThenClose } from '../../wire/index.js'
import type { HttpParser, ParserBinding } from './parser-binding.js'
import { Http1Request, Http1Response, type MessageConnection } from './message.js'

/** What a connection needs from its server. */
export interface ConnectionOwner {
  readonly binding: ParserBinding
  readonly maxHeaderSize: number
  /** Header fields kept per request (name and value count as one); 0 = no limit. */
  readonly maxHeadersCount: number
  onRequest(req: Http1Request, res: Http1Response): void
  onUpgrade(req: Http1Request, socket: Socket, head: Buffer): void
  onClientError(err: Error, socket: Socket): void
  /** The response now written on `socket` (undefined: none), for the listener's connection registry. */
  writing(socket: Socket, res: Http1Response | undefined): void
  forget(conn: Http1Connection): void
}

/** Where a connection is between requests; the deadline sweep reads it. */
export const enum Phase {
  /** Keep-alive, waiting for the next request (keep-alive timeout). */
  Idle,
  /** Reading a request head (header deadline, whole-request deadline). */
  Head,
  /** Reading a request body (whole-request deadline). */
  Body,
  /** The request was read; the response is on its way (no client deadline). */
  Answering,
}

const UPGRADE_REQUESTED = 2
/** kOnHeadersComplete's answer that fails the parse (llhttp: HPE_CB_HEADERS_COMPLETE, answered 400). */
const PARSE_ERROR = -1

/** The parts of a socket's libuv stream handle used for back-pressure on a consumed handle. */
interface StreamHandle {
  isStreamBase?: boolean
  _consumed?: boolean
  reading?: boolean
  readStop(): number
  readStart(): number
}

/**
 * One client connection: Node's llhttp parser reads straight from the socket handle, and requests are
 * answered in order (a pipelined request waits, body buffered, until the one before it is answered).
 */
export class Http1Connection implements MessageConnection {
  phase = Phase.Head
  /** When the current phase began (performance.now()). */
  since: number
  /** When the request being read began (performance.now()). */
  requestSince: number
  private readonly parser: HttpParser
  private current: Http1Response | undefined
  private readonly waiting: Http1Response[] = []
  /** The request whose body the parser is reading (may be a waiting one). */
  private reading: Http1Request | undefined
  private upgradeRequest: Http1Request | undefined
  private partialHeaders: string[] = []
  private partialUrl = ''
  private consumed = false
  private bodyPaused = false
  private queuePaused = false
  /** Inside {@link startWaiting}: a response ended synchronously must not start the next one itself. */
  private starting = false
  /** A response with `Connection: close` ended: nothing more is answered on this connection. */
  private closing = false
  /** Inside a parsed batch of bytes (from a message's start, or its head's end, to the end of the batch). */
  private parsing = false
  /** A response ended within the current batch (its bytes are not flushed yet). */
  private endedWhileParsing = false
  /** The client half-closed: close once the last request is answered. */
  private peerEnded = false
  /** A parse error was handed over for its refusal with nothing in progress. */
  private refused = false
  /** A parse error held back until the requests before it are answered. */
  private deferredError: Error | undefined
  private gone = false

  constructor(
    private readonly owner: ConnectionOwner,
    readonly socket: Socket,
  ) {
    this.since = performance.now()
    this.requestSince = this.since
    const b = owner.binding
    const parser = new b.HTTPParser()
    this.parser = parser
    parser.initialize(b.HTTPParser.REQUEST, {}, owner.maxHeaderSize, 0)
    parser[b.kOnMessageBegin] = this.onMessageBegin
    parser[b.kOnHeaders] = this.onHeaders
    parser[b.kOnHeadersComplete] = this.onHeadersComplete
    parser[b.kOnBody] = this.onBody
    parser[b.kOnMessageComplete] = this.onMessageComplete
    parser[b.kOnExecute] = this.onExecute
    const handle = this.handle()
    if (handle?.isStreamBase === true && handle._consumed !== true) {
      // The parser reads the handle itself: no Buffer and no `data` event per packet in JS.
      handle._consumed = true
      this.consumed = true
      parser.consume(handle)
    } else {
      socket.on('data', (data: Buffer) => this.onExecute(parser.execute(data), data))
    }
    socket.on('end', this.onEnd)
    socket.on('close', this.onClose)
    socket.on('error', this.onError)
    socket.on('drain', this.onDrain)
  }

  /** A response that is being written right now (drain and client errors look at it). */
  get busy(): boolean {
    return this.current !== undefined
  }

  responseDone(res: Http1Response): void {
    if (res !== this.current) return
    this.current = undefined
    if (this.parsing) this.endedWhileParsing = true
    this.owner.writing(this.socket, undefined)
    if (this.gone || this.socket.destroyed) return
    if (!res.req.complete) res.req.dump()
    if (!res.keepAlive) {
      // Nothing after this response is answered: refuse what is queued, then close once it is flushed.
      this.closing = true
      for (const w of this.waiting.splice(0)) w.closed()
      this.closeAfterFlush()
      return
    }
    this.startWaiting()
  }

  /**
   * Starts the queued responses one after another. A response answered synchronously (404, 429, 503)
   * ends inside `start` and comes back here through `responseDone`: that nested call only returns, and
   * this loop starts the next one, so a deep pipeline never deepens the stack.
   */
  private startWaiting(): void {
    if (this.starting) return
    this.starting = true
    try {
      while (this.current === undefined && !this.closing && !this.gone && !this.socket.destroyed) {
        const next = this.waiting.shift()
        if (next === undefined) break
        this.start(next)
      }
    } finally {
      this.starting = false
    }
    if (this.closing || this.gone || this.socket.destroyed) return
    if (this.current !== undefined) {
      // The queue is empty but the request just started may still be waiting for its body: read on.
      if (this.waiting.length === 0 && this.deferredError === undefined) this.queueDrained()
      return
    }
    if (this.peerEnded) {
      // Half-closed: everything it sent is answered.
      this.closing = true
      if (this.socket.writable) this.socket.end()
      return
    }
    const failure = this.deferredError
    if (failure !== undefined) {
      // Every request before the bad one is answered: now the error, then the connection closes.
      this.closing = true
      return this.owner.onClientError(failure, this.socket)
    }
    this.queueDrained()
    if (this.phase === Phase.Answering) {
      this.phase = Phase.Idle
      this.since = performance.now()
    }
  }

  /**
   * The last response is out: FIN after it, then a lingering close, which reads (and drops) what the client
   * still sends until it closes too, goes quiet or the linger's cap passes. Reading may be stopped here
   * (pipelined requests were waiting, or a refused framing): ended but never read again, the socket would
   * never see the client's FIN and stay open, with its connection, parser and descriptor, after the client
   * left (in the phase of a request being answered, which no deadline covers).
   */
  private closeAfterFlush(): void {
    const socket = this.socket
    if (socket.writable) socket.end()
    if (socket.writableFinished) lingerThenClose(socket)
    else socket.once('finish', () => lingerThenClose(socket))
  }

  /** Nothing waits behind the response in progress: the socket is read again (if the body allows). */
  private queueDrained(): void {
    if (!this.queuePaused) return
    this.queuePaused = false
    if (!this.bodyPaused) this.readingOn()
  }

  pauseBody(): void {
    if (this.bodyPaused) return
    this.bodyPaused = true
    this.readingOff()
  }

  resumeBody(): void {
    if (!this.bodyPaused) return
    this.bodyPaused = false
    if (!this.queuePaused) this.readingOn()
  }

  /** A deadline passed (header, whole request): answered as Node's server does, through clientError. */
  timedOut(): void {
    this.phase = Phase.Answering // answered once
    this.owner.onClientError(Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), this.socket)
  }

  /** Stops reading the socket (back-pressure). A consumed handle is stopped at the handle: its reads bypass the stream. */
  private readingOff(): void {
    const handle = this.handle()
    if (!this.consumed || handle == null) return void this.socket.pause()
    if (handle.reading === false) return
    handle.reading = false
    handle.readStop()
  }

  private readingOn(): void {
    const handle = this.handle()
    if (!this.consumed || handle == null) return void this.socket.resume()
    if (handle.reading === true || this.socket.destroyed) return
    handle.reading = true
    handle.readStart()
  }

  private handle(): StreamHandle | null | undefined {
    return (this.socket as Socket & { _handle?: StreamHandle | null })._handle
  }

  private start(res: Http1Response): void {
    this.current = res
    this.owner.writing(this.socket, res)
    const req = res.req
    const expect = expectation(req)
    if (expect !== undefined) {
      // 100 goes out when the handler first reads the body: only once the request was routed, allowed
      // and sent on. A request refused before that gets its final status without 100, then a close.
      if (/^100-continue$/i.test(expect)) res.expectContinue(!res.queued)
      else {
        res.keepAlive = false
        res.writeHead(417, ['content-length', '0'])
        res.end()
        return
      }
    }
    this.owner.onRequest(req, res)
  }

  private readonly onMessageBegin = (): void => {
    this.parsing = true
    if (this.phase === Phase.Idle || this.phase === Phase.Answering) {
      this.phase = Phase.Head
      this.since = performance.now()
      this.requestSince = this.since
    }
  }

  /** A head with many fields arrives in parts (llhttp hands them over 32 at a time). */
  private readonly onHeaders = (headers: string[], url: string): void => {
    const max = this.owner.maxHeadersCount * 2
    if (max <= 0 || this.partialHeaders.length < max) for (const h of headers) this.partialHeaders.push(h)
    this.partialUrl += url
  }

  private readonly onHeadersComplete = (
    versionMajor: number,
    versionMinor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    _statusCode: unknown,
    _statusMessage: unknown,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number => {
    // A head whose start came in an earlier batch ends in this one: a response it ends synchronously is not
    // flushed before what follows in the batch is parsed, so the request after it counts as pipelined.
    this.parsing = true
    let raw = headers
    if (raw === undefined) {
      raw = this.partialHeaders
      this.partialHeaders = []
    }
    let target = url
    if (target === undefined || target === '') {
      target = this.partialUrl
      this.partialUrl = ''
    }
    // llhttp parses only methods it knows, and every one of them is in the table; were one missing, the
    // request must not go on under another method's name: the parse fails as an unknown method would.
    const methodName = this.owner.binding.methodByCode[method]
    if (methodName === undefined) return PARSE_ERROR
    const req = new Http1Request(this, this.socket, methodName, target, raw, versionMajor, versionMinor)
    this.reading = req
    if (this.phase === Phase.Head) this.phase = Phase.Body
    if (upgrade) {
      this.upgradeRequest = req
      return UPGRADE_REQUESTED
    }
    // The connection closes with a response already ended: what follows is read but never started.
    if (this.closing) return 0
    const res = new Http1Response(this, req, shouldKeepAlive)
    // Pipelined in the bytes that also held the request before it (node:http too treats it as queued:
    // the response before it is not flushed yet), even when that one was answered synchronously.
    if (this.endedWhileParsing) res.queued = true
    if (this.current === undefined) this.start(res)
    else {
      res.queued = true
      this.waiting.push(res)
      if (!this.queuePaused) {
        // Pipelined: read no further until the queue is answered.
        this.queuePaused = true
        this.readingOff()
      }
    }
    return 0
  }

  private readonly onBody = (chunk: Buffer): void => {
    this.reading?.pushBody(chunk)
  }

  private readonly onMessageComplete = (): void => {
    const req = this.reading
    this.reading = undefined
    this.partialHeaders = []
    this.partialUrl = ''
    if (req === undefined) return
    req.endBody()
    if (this.phase !== Phase.Body) return
    // Answered already (a response that did not wait for the body): the connection is idle again.
    this.phase = this.current === undefined && this.waiting.length === 0 ? Phase.Idle : Phase.Answering
    this.since = performance.now()
  }

  private readonly onExecute = (ret: number | Error, data?: Buffer): void => {
    this.parsing = false
    this.endedWhileParsing = false
    if (ret instanceof Error) {
      const err = ret as Error & { rawPacket?: Buffer }
      err.rawPacket = data ?? this.parser.getCurrentBuffer()
      this.parseFailed(err)
      return
    }
    const req = this.upgradeRequest
    if (req === undefined) return
    this.upgradeRequest = undefined
    const buffer = data ?? this.parser.getCurrentBuffer()
    const head = buffer.subarray(ret)
    if (this.current !== undefined || this.waiting.length > 0) {
      this.socket.destroy() // an upgrade behind unanswered requests: nothing sane to do with it
      return
    }
    this.detach()
    this.owner.onUpgrade(req, this.socket, head)
  }

  /**
   * The parser refused the stream. The error answers the request it was found in, in that request's slot:
   * the valid requests before it are answered first (a queued request whose body is bad is never started),
   * then the error goes to `clientError` with no response in progress, which answers it and closes.
   * An error in the body of the response in progress is reported at once (client-errors decides).
   */
  private parseFailed(err: Error): void {
    // The parser stays failed: every later packet reports again. Once refused, what the client still sends
    // is read and dropped (the lingering close waits for it to go quiet): reading is not stopped again.
    if (this.deferredError !== undefined || this.refused) return
    const reading = this.reading
    const current = this.current
    if (reading !== undefined && reading === current?.req) {
      if (current.headersSent) return this.owner.onClientError(err, this.socket) // cut short: the client sees it
      // Nothing of its answer went out: the 400 is that answer. The request is abandoned first (its exchange
      // sees the close and stops), so the refusal goes out with no request in progress and closes in stages
      // like every other refusal: destroyed at once, the socket would answer a client still sending its body
      // with a reset, and the client could lose the 400.
      this.current = undefined
      this.owner.writing(this.socket, undefined)
      this.reading = undefined
      reading.abort()
      current.closed()
      this.closing = true
      this.readingOff()
      this.refused = true
      return this.owner.onClientError(err, this.socket)
    }
    if (reading !== undefined && this.current === undefined && !this.waiting.some((w) => w.req === reading)) {
      // The request was answered from its head alone (404, 429, ...) before llhttp, which checks
      // Transfer-Encoding only after handing the head over, refused its framing. A second answer would be
      // read as the answer to the client's next request: the refusal is the close, as in node:http.
      this.deferredError = err
      this.closing = true
      this.closeAfterFlush()
      return
    }
    this.readingOff()
    if (reading !== undefined) {
      const i = this.waiting.findIndex((w) => w.req === reading)
      if (i >= 0) for (const w of this.waiting.splice(i)) w.closed()
    }
    if (this.current === undefined && this.waiting.length === 0) {
      this.refused = true
      return this.owner.onClientError(err, this.socket)
    }
    this.deferredError = err
  }

  /**
   * The client sent FIN (half-close): it has sent all it will send. What it sent is answered, then the
   * connection closes (nginx and HAProxy do the same; `node:http` with `httpAllowHalfOpen`, set for it too).
   * Reading stops anyway while pipelined requests wait, so a FIN seen only then gets the same treatment.
   */
  private readonly onEnd = (): void => {
    if (this.gone || this.deferredError !== undefined) return
    const ret = this.parser.finish()
    if (ret instanceof Error) {
      this.owner.onClientError(ret, this.socket)
      return
    }
    this.peerEnded = true
    if (this.current === undefined && this.waiting.length === 0 && this.socket.writable) this.socket.end()
  }

  private readonly onClose = (): void => {
    this.abandon()
    this.release()
  }

  private readonly onError = (err: Error): void => {
    this.owner.onClientError(err, this.socket)
  }

  private readonly onDrain = (): void => {
    this.current?.emit('drain')
  }

  /** Every request not yet answered sees the client go. */
  private abandon(): void {
    this.reading?.abort()
    const current = this.current
    this.current = undefined
    this.owner.writing(this.socket, undefined)
    if (current !== undefined) {
      current.req.abort()
      current.closed()
    }
    for (const w of this.waiting.splice(0)) {
      w.req.abort()
      w.closed()
    }
  }

  /** Hands the socket over (upgrade): the parser lets go of the handle and of the socket's events. */
  private detach(): void {
    this.socket.off('end', this.onEnd)
    this.socket.off('close', this.onClose)
    this.socket.off('error', this.onError)
    this.socket.off('drain', this.onDrain)
    this.socket.removeAllListeners('data')
    // As Node's server does before 'upgrade': the new owner's first `data` listener starts the flow.
    if (this.consumed) this.readingOn() // a stopped handle would starve the tunnel
    ;(this.socket as Socket & { readableFlowing: boolean | null }).readableFlowing = null
    this.release()
  }

  private release(): void {
    if (this.gone) return
    this.gone = true
    this.owner.forget(this)
    const parser = this.parser
    if (this.consumed) {
      parser.unconsume()
      const handle = this.handle()
      if (handle != null) handle._consumed = false
    }
    // Not from inside one of its own callbacks.
    setImmediate(() => parser.close())
  }
}

/** The `Expect` value of an HTTP/1.1 request, if any (Node's server answers 100-continue and 417). */
function expectation(req: Http1Request): string | undefined {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return undefined
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === 6 && sameToken(name, 'expect')) return raw[i + 1] as string
  }
  return undefined
}
