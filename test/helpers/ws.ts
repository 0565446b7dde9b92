/**
 * WebSocket helpers for tests: clients built on undici's `WebSocket` with a message queue (so no message is
 * missed between awaits) and timeouts on every wait, plus a raw frame-level client for what the browser
 * API cannot do (ping, fragmentation, unmasked frames).
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { WebSocket } from 'undici'

type UndiciWebSocket = InstanceType<typeof WebSocket>

/** How a WebSocket ended. */
export interface WsClose {
  code: number
  reason: string
  wasClean: boolean
}

/** A connected WebSocket client. Binary messages arrive as `Buffer`, text as `string`. */
export interface WsClient {
  readonly socket: UndiciWebSocket
  send(data: string | Buffer): void
  /** The next message not yet consumed; rejects after `timeoutMs` (default 5000) or when the socket closes. */
  next(timeoutMs?: number): Promise<string | Buffer>
  /** Sends `data` and waits for the next message. */
  echo(data: string | Buffer, timeoutMs?: number): Promise<string | Buffer>
  /** Starts the close handshake and waits for it to finish (default code 1000). */
  close(code?: number, reason?: string, timeoutMs?: number): Promise<WsClose>
  /** Settles when the connection is closed, however that happened. */
  readonly closed: Promise<WsClose>
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Opens one WebSocket to `url` (`ws://127.0.0.1:port/ws`); rejects if it is not open within `timeoutMs` (default 5000). */
export async function openWebSocket(url: string, options: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<WsClient> {
  const { timeoutMs = 5000, headers } = options
  const socket = new WebSocket(url, headers === undefined ? undefined : { headers })
  socket.binaryType = 'arraybuffer'
  const queue: Array<string | Buffer> = []
  const waiters: Array<{ resolve: (m: string | Buffer) => void; reject: (e: Error) => void }> = []
  let ended: WsClose | undefined
  const closed = new Promise<WsClose>((resolve) => {
    socket.addEventListener('close', (ev) => {
      ended = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean }
      for (const w of waiters.splice(0)) w.reject(new Error(`websocket closed (${ev.code})`))
      resolve(ended)
    })
  })
  socket.addEventListener('message', (ev) => {
    const data: unknown = ev.data
    const message = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer)
    const waiter = waiters.shift()
    if (waiter === undefined) queue.push(message)
    else waiter.resolve(message)
  })
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve())
    socket.addEventListener('error', () => reject(new Error(`websocket ${url} failed to open`)))
  })
  try {
    await withTimeout(opened, timeoutMs, `open ${url}`)
  } catch (err) {
    socket.close()
    throw err
  }
  const next = (ms = 5000): Promise<string | Buffer> => {
    const queued = queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (ended !== undefined) return Promise.reject(new Error(`websocket closed (${ended.code})`))
    const p = new Promise<string | Buffer>((resolve, reject) => waiters.push({ resolve, reject }))
    return withTimeout(p, ms, 'websocket message')
  }
  return {
    socket,
    send: (data) => socket.send(data),
    next,
    echo: (data, ms) => {
      socket.send(data)
      return next(ms)
    },
    close: (code = 1000, reason = '', ms = 5000) => {
      if (ended === undefined) socket.close(code, reason)
      return withTimeout(closed, ms, 'websocket close')
    },
    closed,
  }
}

/** Opens `n` WebSockets to `url` concurrently. On any failure the ones already open are closed. */
export async function openWebSockets(url: string, n: number, options: { timeoutMs?: number } = {}): Promise<WsClient[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => openWebSocket(url, options)))
  const clients = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) {
    await closeWebSockets(clients)
    throw failed.reason
  }
  return clients
}

/** Closes every client, waiting at most `timeoutMs` (default 2000) each; never rejects. */
export async function closeWebSockets(clients: readonly WsClient[], timeoutMs = 2000): Promise<void> {
  await Promise.allSettled(clients.map((c) => c.close(1000, '', timeoutMs)))
}

/** One decoded frame. */
export interface WsFrame {
  fin: boolean
  opcode: number
  payload: Buffer
}

/** Encodes a client frame (masked unless `masked: false`). Opcodes: 0 cont, 1 text, 2 binary, 8 close, 9 ping, 10 pong. */
export function encodeClientFrame(opcode: number, payload: Buffer | string, options: { fin?: boolean; masked?: boolean } = {}): Buffer {
  const { fin = true, masked = true } = options
  const data = Buffer.from(payload)
  const len = data.length
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8
  const header = Buffer.alloc(2 + ext + (masked ? 4 : 0))
  header[0] = (fin ? 0x80 : 0) | opcode
  header[1] = (masked ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127)
  if (ext === 2) header.writeUInt16BE(len, 2)
  if (ext === 8) header.writeBigUInt64BE(BigInt(len), 2)
  if (!masked) return Buffer.concat([header, data])
  const mask = randomBytes(4)
  mask.copy(header, 2 + ext)
  for (let i = 0; i < len; i++) data[i] = (data[i] ?? 0) ^ (mask[i & 3] ?? 0)
  return Buffer.concat([header, data])
}

/** A frame-level client over a raw TCP socket. */
export interface RawWsClient {
  readonly socket: net.Socket
  /** The handshake response head (status line and headers). */
  readonly handshake: string
  /** Writes raw bytes (e.g. from {@link encodeClientFrame}). */
  write(bytes: Buffer): void
  /** The next frame from the server; rejects after `timeoutMs` (default 5000) or when the socket ends first. */
  nextFrame(timeoutMs?: number): Promise<WsFrame>
  /** Resolves when the server closes the TCP connection. */
  readonly ended: Promise<void>
}

/**
 * Performs the handshake on 127.0.0.1:`port` and returns a frame-level client. Rejects when the server does not
 * answer 101; the error message holds the response head.
 */
export function openRawWebSocket(port: number, path = '/ws', options: { timeoutMs?: number } = {}): Promise<RawWsClient> {
  const { timeoutMs = 5000 } = options
  const socket = net.connect(port, '127.0.0.1')
  let buf = Buffer.alloc(0)
  let wake: (() => void) | undefined
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk])
    wake?.()
  })
  let isEnded = false
  void ended.then(() => {
    isEnded = true
    wake?.()
  })
  const waitData = (ms: number, what: string): Promise<void> =>
    withTimeout(new Promise<void>((resolve) => (wake = resolve)), ms, what)

  const tryFrame = (): WsFrame | undefined => {
    if (buf.length < 2) return undefined
    const b1 = buf[1] ?? 0
    let len = b1 & 0x7f
    let off = 2
    if (len === 126) {
      if (buf.length < 4) return undefined
      len = buf.readUInt16BE(2)
      off = 4
    } else if (len === 127) {
      if (buf.length < 10) return undefined
      len = Number(buf.readBigUInt64BE(2))
      off = 10
    }
    if (buf.length < off + len) return undefined
    const frame = { fin: ((buf[0] ?? 0) & 0x80) !== 0, opcode: (buf[0] ?? 0) & 0x0f, payload: buf.subarray(off, off + len) }
    buf = buf.subarray(off + len)
    return frame
  }
  const nextFrame = async (ms = 5000): Promise<WsFrame> => {
    for (;;) {
      const frame = tryFrame()
      if (frame !== undefined) return frame
      if (isEnded) throw new Error('connection closed before a complete frame')
      await waitData(ms, 'websocket frame')
    }
  }
  return (async () => {
    await withTimeout(new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('error', reject)
    }), timeoutMs, 'connect')
    const key = randomBytes(16).toString('base64')
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    while (buf.indexOf('\r\n\r\n') < 0) {
      if (isEnded) break
      await waitData(timeoutMs, 'websocket handshake')
    }
    const headEnd = buf.indexOf('\r\n\r\n')
    const handshake = buf.subarray(0, headEnd < 0 ? buf.length : headEnd).toString('latin1')
    if (!handshake.startsWith('HTTP/1.1 101')) {
      socket.destroy()
      throw new Error(`websocket handshake refused: ${handshake}`)
    }
    buf = buf.subarray(headEnd + 4)
    return { socket, handshake, write: (bytes: Buffer) => void socket.write(bytes), nextFrame, ended }
  })()
}
