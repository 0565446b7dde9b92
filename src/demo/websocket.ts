/**
 * A minimal RFC 6455 WebSocket server side for `node:http` `upgrade` events: the handshake, a frame parser
 * (fragmentation, control frames, 7/16/64-bit lengths, frames split across TCP chunks), echo of text and
 * binary messages, ping -> pong, and the close handshake. No extensions, no subprotocols.
 * It exists for the sample and test backends; the balancer itself only tunnels upgrades.
 */
import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import type http from 'node:http'
import type { Duplex } from 'node:stream'

/** The GUID of RFC 6455 section 1.3, appended to the client key to compute `Sec-WebSocket-Accept`. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** Default cap on one (possibly fragmented) message: 1 MiB. Larger messages close with 1009. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

const OP_CONTINUATION = 0x0
const OP_TEXT = 0x1
const OP_BINARY = 0x2
const OP_CLOSE = 0x8
const OP_PING = 0x9
const OP_PONG = 0xa

/** Called with every complete message before it is echoed. `isBinary` is false for text (valid UTF-8). */
export type WebSocketMessageHandler = (data: Buffer, isBinary: boolean) => void

/** Extra settings of {@link attachWebSocketEcho}. */
export interface WebSocketEchoOptions {
  /** Headers added to the 101 response (e.g. `x-backend`). */
  headers?: Record<string, string>
  /** Cap on one message in bytes; default {@link DEFAULT_MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number
}

/** Handle returned by {@link attachWebSocketEcho}. */
export interface WebSocketEcho {
  /** Sockets of the open WebSocket connections (upgraded sockets are not closed by `server.closeAllConnections`). */
  readonly sockets: ReadonlySet<Duplex>
  /** Destroys every open WebSocket socket. */
  destroyAll(): void
  /** Removes the `upgrade` listener; open connections stay. */
  detach(): void
}

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(sha1(key + GUID)). */
export function computeAcceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64')
}

/** Encodes one unmasked (server to client) frame with FIN set. */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length
  const headerLength = len < 126 ? 2 : len < 65536 ? 4 : 10
  const header = Buffer.allocUnsafe(headerLength)
  header[0] = 0x80 | opcode
  if (len < 126) {
    header[1] = len
  } else if (len < 65536) {
    header[1] = 126
    header.writeUInt16BE(len, 2)
  } else {
    header[1] = 127
    header.writeBigUInt64BE(BigInt(len), 2)
  }
  return Buffer.concat([header, payload])
}

function reject(socket: Duplex, status: number, reason: string, extra = ''): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`)
}

function hasToken(value: string | undefined, token: string): boolean {
  return (value ?? '').split(',').some((t) => t.trim().toLowerCase() === token)
}

/**
 * Accepts WebSocket upgrades on `path` (query string ignored) and echoes every text or binary message back.
 * Invalid handshakes get 400 (426 with `Sec-WebSocket-Version: 13` for another version); other paths get 404.
 * Protocol errors close with 1002, invalid UTF-8 with 1007, oversized messages with 1009.
 * Returns a handle to list and destroy the open connections.
 */
export function attachWebSocketEcho(
  server: http.Server,
  path = '/ws',
  onMessage?: WebSocketMessageHandler,
  options: WebSocketEchoOptions = {},
): WebSocketEcho {
  const sockets = new Set<Duplex>()
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy())
    const pathname = (req.url ?? '').split('?')[0]
    if (pathname !== path) return reject(socket, 404, 'Not Found')
    const key = req.headers['sec-websocket-key']
    const valid =
      req.method === 'GET' &&
      hasToken(req.headers.upgrade, 'websocket') &&
      hasToken(req.headers.connection, 'upgrade') &&
      typeof key === 'string' &&
      Buffer.from(key, 'base64').length === 16
    if (!valid) return reject(socket, 400, 'Bad Request')
    if (req.headers['sec-websocket-version'] !== '13') {
      return reject(socket, 426, 'Upgrade Required', 'Sec-WebSocket-Version: 13\r\n')
    }
    const extra = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('')
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n${extra}\r\n`,
    )
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    const connection = new EchoConnection(socket, maxMessageBytes, onMessage)
    if (head.length > 0) connection.push(head)
    socket.on('data', (chunk: Buffer) => connection.push(chunk))
  }
  server.on('upgrade', onUpgrade)
  return {
    sockets,
    destroyAll: () => {
      for (const s of sockets) s.destroy()
    },
    detach: () => {
      server.off('upgrade', onUpgrade)
    },
  }
}

interface FrameHeader {
  fin: boolean
  opcode: number
  mask: Buffer
  length: number
  headerLength: number
}

/** One server-side connection: buffers bytes, parses frames, answers. */
class EchoConnection {
  private chunks: Buffer[] = []
  private buffered = 0
  private header: FrameHeader | undefined
  private fragments: Buffer[] = []
  private fragmentsBytes = 0
  private fragmentOpcode = 0
  private closing = false

  constructor(
    private readonly socket: Duplex,
    private readonly maxMessageBytes: number,
    private readonly onMessage: WebSocketMessageHandler | undefined,
  ) {}

  push(chunk: Buffer): void {
    if (this.closing) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    while (!this.closing) {
      if (this.header === undefined) {
        this.header = this.parseHeader()
        if (this.header === undefined) return
        this.take(this.header.headerLength)
      }
      if (this.buffered < this.header.length) return
      const payload = this.take(this.header.length)
      const header = this.header
      this.header = undefined
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (header.mask[i & 3] ?? 0)
      this.onFrame(header, payload)
    }
  }

  /** Reads a frame header without consuming it; undefined when more bytes are needed or on error. */
  private parseHeader(): FrameHeader | undefined {
    if (this.buffered < 2) return undefined
    const b = this.peek(Math.min(this.buffered, 14))
    const b0 = b[0] ?? 0
    const b1 = b[1] ?? 0
    const opcode = b0 & 0x0f
    const control = opcode >= 0x8
    if ((b0 & 0x70) !== 0) return this.fail(1002, 'reserved bits set')
    if (![OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG].includes(opcode)) {
      return this.fail(1002, 'unknown opcode')
    }
    if ((b1 & 0x80) === 0) return this.fail(1002, 'client frames must be masked')
    let length = b1 & 0x7f
    let offset = 2
    if (control && (length > 125 || (b0 & 0x80) === 0)) return this.fail(1002, 'bad control frame')
    if (length === 126) {
      if (b.length < 4) return undefined
      length = b.readUInt16BE(2)
      offset = 4
    } else if (length === 127) {
      if (b.length < 10) return undefined
      const big = b.readBigUInt64BE(2)
      if (big > BigInt(this.maxMessageBytes)) return this.fail(1009, 'message too big')
      length = Number(big)
      offset = 10
    }
    if (b.length < offset + 4) return undefined
    if (!control && this.fragmentsBytes + length > this.maxMessageBytes) return this.fail(1009, 'message too big')
    return { fin: (b0 & 0x80) !== 0, opcode, mask: Buffer.from(b.subarray(offset, offset + 4)), length, headerLength: offset + 4 }
  }

  private onFrame(h: FrameHeader, payload: Buffer): void {
    switch (h.opcode) {
      case OP_PING:
        return this.send(OP_PONG, payload)
      case OP_PONG:
        return
      case OP_CLOSE:
        return this.onClose(payload)
      case OP_CONTINUATION:
        if (this.fragmentOpcode === 0) return void this.fail(1002, 'unexpected continuation frame')
        break
      default:
        if (this.fragmentOpcode !== 0) return void this.fail(1002, 'expected a continuation frame')
        this.fragmentOpcode = h.opcode
    }
    this.fragments.push(payload)
    this.fragmentsBytes += payload.length
    if (!h.fin) return
    const message = this.fragments.length === 1 ? payload : Buffer.concat(this.fragments)
    const opcode = this.fragmentOpcode
    this.fragments = []
    this.fragmentsBytes = 0
    this.fragmentOpcode = 0
    if (opcode === OP_TEXT && !isUtf8(message)) return void this.fail(1007, 'invalid UTF-8')
    this.onMessage?.(message, opcode === OP_BINARY)
    this.send(opcode, message)
  }

  /** Answers a client close (echoing a valid code, else 1000/1002) and ends the TCP connection. */
  private onClose(payload: Buffer): void {
    if (payload.length === 1) return void this.fail(1002, 'bad close payload')
    let reply = Buffer.alloc(0)
    if (payload.length >= 2) {
      const code = payload.readUInt16BE(0)
      const validCode = (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999)
      if (!validCode || !isUtf8(payload.subarray(2))) return void this.fail(1002, 'bad close payload')
      reply = Buffer.alloc(2)
      reply.writeUInt16BE(code, 0)
    }
    this.send(OP_CLOSE, reply)
    this.end()
  }

  /** Starts the close handshake with `code` and drops the connection soon after. */
  private fail(code: number, reason: string): undefined {
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
    payload.writeUInt16BE(code, 0)
    payload.write(reason, 2)
    this.send(OP_CLOSE, payload)
    this.end()
    return undefined
  }

  /** Stops parsing, ends the TCP connection, and destroys it if the peer has not closed within 1 s. */
  private end(): void {
    this.closing = true
    this.socket.end()
    setTimeout(() => this.socket.destroy(), 1000).unref()
  }

  /** Writes one frame; pauses reading while the socket's write buffer is full (back-pressure). */
  private send(opcode: number, payload: Buffer): void {
    if (this.closing || this.socket.destroyed) return
    if (!this.socket.write(encodeFrame(opcode, payload))) {
      this.socket.pause()
      this.socket.once('drain', () => this.socket.resume())
    }
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]
    if (first !== undefined && first.length >= n) return first.subarray(0, n)
    const parts: Buffer[] = []
    let got = 0
    for (const c of this.chunks) {
      if (got >= n) break
      parts.push(c)
      got += c.length
    }
    return Buffer.concat(parts).subarray(0, n)
  }

  /** Removes and returns the first `n` buffered bytes (a copy, so masking in place is safe). */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const c = this.chunks[0]
      if (c === undefined) break
      const used = Math.min(c.length, n - filled)
      c.copy(out, filled, 0, used)
      filled += used
      if (used === c.length) this.chunks.shift()
      else this.chunks[0] = c.subarray(used)
    }
    this.buffered -= n
    return out
  }
}
