/**
 * A strict HTTP/1.1 response framer over raw bytes, for the fuzzer's client side: status line, header fields,
 * then the body framed by (in this order) the request method and status (HEAD, 1xx, 204, 304: none),
 * `Transfer-Encoding: chunked`, `Content-Length`, else the end of the connection (RFC 9112 6.3). Anything the
 * grammar does not allow (bare LF, a bad field name, two Content-Length fields, Content-Length with
 * Transfer-Encoding, a bad chunk) is a {@link FramingError}: a client could read it two ways.
 */

/** One response as framed. */
export interface FramedResponse {
  status: number
  /** Field names lower-cased, values trimmed; repeated fields joined with ", ". */
  headers: Map<string, string>
  bodyLength: number
  /** First bytes of the body (for reports). */
  bodyStart: string
  /** The body ran until the connection closed. */
  closeDelimited: boolean
}

/** The bytes are not a well-framed response. */
export class FramingError extends Error {}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d) [\t\x20-\x7e\x80-\xff]*$/
const MAX_HEAD = 64 * 1024

type State =
  | { kind: 'head' }
  | { kind: 'length'; left: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; left: number }
  | { kind: 'chunk-crlf' }
  | { kind: 'trailers' }
  | { kind: 'close' }
  | { kind: 'discard'; left: number }

/**
 * Feed it bytes with {@link push}; it returns the responses completed by them. `isHeadResponse(i)` is asked,
 * when the head of final response `i` (0-based) is complete, whether request `i` was HEAD (answers come in
 * request order).
 */
export class ResponseFramer {
  private buf: Buffer = Buffer.alloc(0)
  private state: State = { kind: 'head' }
  private current: FramedResponse | undefined
  /** Final responses completed so far: the index of the one being read. */
  private count = 0

  constructor(private readonly isHeadResponse: (index: number) => boolean) {}

  /** True while the error body of a closing refusal to HEAD is skipped (see `head()`). */
  get discarding(): boolean {
    return this.state.kind === 'discard'
  }

  /** True while a response is partly read (a head or a body). */
  get busy(): boolean {
    return (this.state.kind !== 'head' && this.state.kind !== 'discard') || this.buf.length > 0
  }

  /** Adds bytes; returns every response they complete. Throws {@link FramingError}. */
  push(chunk: Buffer): FramedResponse[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const done: FramedResponse[] = []
    for (;;) {
      const r = this.step()
      if (r === 'more') break
      if (r !== 'continue') done.push(r)
    }
    return done
  }

  /** The connection ended: completes a close-delimited body; throws if a response was cut short. */
  end(): FramedResponse | undefined {
    if (this.state.kind === 'close' && this.current !== undefined) {
      this.state = { kind: 'head' }
      return this.complete()
    }
    if (this.busy) throw new FramingError(`connection closed inside a response (${this.state.kind}, ${this.buf.length} bytes pending)`)
    return undefined
  }

  private line(): string | undefined {
    const i = this.buf.indexOf(10)
    if (i < 0) {
      if (this.buf.length > MAX_HEAD) throw new FramingError('line longer than 64 KiB')
      return undefined
    }
    if (i === 0 || this.buf[i - 1] !== 13) throw new FramingError(`bare LF in ${JSON.stringify(this.buf.subarray(0, Math.min(i + 1, 80)).toString('latin1'))}`)
    const text = this.buf.subarray(0, i - 1).toString('latin1')
    if (text.includes('\r')) throw new FramingError(`bare CR in ${JSON.stringify(text.slice(0, 80))}`)
    this.buf = this.buf.subarray(i + 1)
    return text
  }

  private step(): FramedResponse | 'more' | 'continue' {
    const s = this.state
    switch (s.kind) {
      case 'head': return this.head()
      case 'length': {
        if (this.buf.length === 0) return 'more'
        const n = Math.min(s.left, this.buf.length)
        this.take(n)
        s.left -= n
        return s.left === 0 ? this.complete() : 'more'
      }
      case 'chunk-size': {
        const line = this.line()
        if (line === undefined) return 'more'
        const m = /^([0-9A-Fa-f]{1,15})(;.*)?$/.exec(line)
        if (m === null) throw new FramingError(`bad chunk size line ${JSON.stringify(line.slice(0, 80))}`)
        const size = parseInt(m[1] as string, 16)
        this.state = size === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', left: size }
        return 'continue'
      }
      case 'chunk-data': {
        if (this.buf.length === 0) return 'more'
        const n = Math.min(s.left, this.buf.length)
        this.take(n)
        s.left -= n
        if (s.left === 0) this.state = { kind: 'chunk-crlf' }
        return 'continue'
      }
      case 'chunk-crlf': {
        if (this.buf.length < 2) return 'more'
        if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new FramingError('chunk data not followed by CRLF')
        this.buf = this.buf.subarray(2)
        this.state = { kind: 'chunk-size' }
        return 'continue'
      }
      case 'trailers': {
        const line = this.line()
        if (line === undefined) return 'more'
        if (line === '') return this.complete()
        this.field(line, new Map())
        return 'continue'
      }
      case 'close':
        if (this.buf.length > 0) this.take(this.buf.length)
        return 'more'
      case 'discard': {
        const n = Math.min(s.left, this.buf.length)
        this.buf = this.buf.subarray(n)
        s.left -= n
        if (s.left > 0) return 'more'
        this.state = { kind: 'head' }
        return 'continue'
      }
    }
  }

  private take(n: number): void {
    const r = this.current as FramedResponse
    if (r.bodyStart.length < 64) r.bodyStart += this.buf.subarray(0, Math.min(n, 64 - r.bodyStart.length)).toString('latin1')
    r.bodyLength += n
    this.buf = this.buf.subarray(n)
  }

  private complete(): FramedResponse {
    const r = this.current as FramedResponse
    this.count++
    this.current = undefined
    this.state = { kind: 'head' }
    return r
  }

  private field(line: string, headers: Map<string, string>): void {
    const colon = line.indexOf(':')
    if (colon <= 0) throw new FramingError(`bad field line ${JSON.stringify(line.slice(0, 80))}`)
    const name = line.slice(0, colon)
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    if (!TOKEN.test(name)) throw new FramingError(`bad field name ${JSON.stringify(name.slice(0, 80))}`)
    if (!FIELD_VALUE.test(value)) throw new FramingError(`bad field value in ${JSON.stringify(line.slice(0, 80))}`)
    const key = name.toLowerCase()
    if (key === 'content-length' && headers.has(key)) throw new FramingError('two Content-Length fields')
    const prev = headers.get(key)
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`)
  }

  private head(): FramedResponse | 'more' | 'continue' {
    // The whole head must be there before any of it is consumed.
    const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1')
    if (end < 0) {
      if (this.buf.length > MAX_HEAD) throw new FramingError('response head longer than 64 KiB')
      const lf = this.buf.indexOf(10)
      if (lf >= 0 && (lf === 0 || this.buf[lf - 1] !== 13)) throw new FramingError('bare LF in a response head')
      return 'more'
    }
    const status = this.line() as string
    const m = STATUS_LINE.exec(status)
    if (m === null) throw new FramingError(`bad status line ${JSON.stringify(status.slice(0, 80))}`)
    const headers = new Map<string, string>()
    for (let line = this.line(); line !== ''; line = this.line()) {
      if (line === undefined) throw new FramingError('head ended early')
      if (line.startsWith(' ') || line.startsWith('\t')) throw new FramingError('obs-fold in a response')
      this.field(line, headers)
    }
    const code = Number(m[1])
    this.current = { status: code, headers, bodyLength: 0, bodyStart: '', closeDelimited: false }
    const te = headers.get('transfer-encoding')
    const cl = headers.get('content-length')
    if (code >= 100 && code < 200) {
      if (code === 101) throw new FramingError('101 Switching Protocols to a request that asked for no upgrade')
      this.current = undefined
      return 'continue' // interim response: the final one follows
    }
    if (te !== undefined && cl !== undefined) throw new FramingError('Content-Length with Transfer-Encoding')
    const toHead = this.isHeadResponse(this.count)
    if (toHead || code === 204 || code === 304) {
      const done = this.complete()
      // A request refused because it could not be parsed is answered before its method is known for sure
      // (Node's parser reports no method with the error), so a refusal that closes the connection may carry
      // its error body even to HEAD. A client reads no response after a `close` one (RFC 9112 9.6), so up to
      // Content-Length bytes (none, when the refusal knew the method) cannot be misread: they are skipped,
      // and the close must follow (a byte more is read as a response after the closing one).
      if (toHead && code >= 400 && code < 500 && cl !== undefined && /^\d{1,15}$/.test(cl) && /(^|,)\s*close\s*(,|$)/i.test(headers.get('connection') ?? '')) {
        const left = Number(cl)
        if (left > 0) this.state = { kind: 'discard', left }
      }
      return done
    }
    if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') throw new FramingError(`Transfer-Encoding ${JSON.stringify(te)}`)
      this.state = { kind: 'chunk-size' }
      return 'continue'
    }
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new FramingError(`Content-Length ${JSON.stringify(cl)}`)
      const n = Number(cl)
      if (n === 0) return this.complete()
      this.state = { kind: 'length', left: n }
      return 'continue'
    }
    this.current.closeDelimited = true
    this.state = { kind: 'close' }
    return 'continue'
  }
}
