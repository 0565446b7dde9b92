import type { Duplex } from 'node:stream'
import { ERROR_CODES, type ErrorCode } from '../core/index.js'

/** Seconds a client should wait before retrying a 503 (no ready backend). */
export const RETRY_AFTER_SECONDS = 1

/** HTTP status for an error code. */
export function statusFor(code: ErrorCode): number {
  return ERROR_CODES[code].status
}

/** The JSON body for an error code. */
export function errorBody(code: ErrorCode, requestId: string, message?: string): string {
  return JSON.stringify({ error: message ?? ERROR_CODES[code].message, code, requestId })
}

/**
 * Writes an error response directly on a raw socket (parser errors, refused upgrades), then
 * closes it. Used where no ServerResponse exists. `extraHeaders`: name/value pairs to add (a
 * `retry-after` among them replaces the default one). `linger`: close in stages (see
 * {@link lingerThenClose}); only when no request is in progress on the socket, as its end waits for the close.
 */
export function writeRawError(socket: Duplex, code: ErrorCode, requestId: string, message?: string, extraHeaders?: readonly string[], linger = false): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const status = statusFor(code)
  const body = errorBody(code, requestId, message)
  let extra = ''
  if (extraHeaders !== undefined) for (let i = 0; i + 1 < extraHeaders.length; i += 2) extra += `${extraHeaders[i]}: ${extraHeaders[i + 1]}\r\n`
  const hasRetryAfter = extraHeaders?.includes('retry-after') ?? false
  if ((status === 503 || status === 429) && !hasRetryAfter) extra += `Retry-After: ${RETRY_AFTER_SECONDS}\r\n`
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      extra +
      'Connection: close\r\n\r\n' +
      body,
  )
  socket.once('finish', () => (linger ? lingerThenClose(socket) : socket.destroy()))
}

/** Quiet time after which a lingering connection is closed, and the most it lingers in all. */
const LINGER_IDLE_MS = 500
const LINGER_MAX_MS = 5000

/**
 * Closes in stages (RFC 9112 9.6, as nginx's lingering close): the response and a FIN are out; what the
 * client still sends is read and dropped until it closes too or is quiet for a moment. Destroyed at once,
 * the socket would answer those bytes with a reset, and a client whose write fails then may lose the
 * response it had not read yet.
 */
export function lingerThenClose(socket: Duplex): void {
  if (socket.destroyed) return
  if (lingering.has(socket)) {
    // Already lingering (the refusal's own close, then a parse error in what followed it): only make sure
    // the handle is read again, as a parser that failed since may have stopped it.
    readHandle(socket)
    return
  }
  // The client has closed its side already: nothing more will come to drain.
  if (socket.readableEnded) {
    socket.destroy()
    return
  }
  lingering.add(socket)
  const close = (): void => {
    clearTimeout(idle)
    clearTimeout(cap)
    socket.destroy()
  }
  // Quiet is judged on the bytes the socket read, not on 'data' events: a parser that consumes the socket's
  // handle (both HTTP/1.1 listeners) reads, and drops, what follows a refusal without any event.
  let seen = bytesReadOf(socket)
  const check = (): void => {
    const now = bytesReadOf(socket)
    if (now === seen) return close()
    seen = now
    idle = setTimeout(check, LINGER_IDLE_MS).unref()
  }
  let idle = setTimeout(check, LINGER_IDLE_MS).unref()
  const cap = setTimeout(close, LINGER_MAX_MS).unref()
  socket.on('data', () => {})
  socket.once('end', close)
  socket.once('close', close)
  socket.resume()
  readHandle(socket)
}

/**
 * Ends `socket` (if not ended yet) and, once what was written before is flushed, closes it in stages
 * ({@link lingerThenClose}). For a connection whose last response closes it: that response may still be
 * queued (ended in the same parsed batch of bytes), and a destroy now would drop it.
 */
export function endThenLinger(socket: Duplex): void {
  if (socket.destroyed) return
  if (!socket.writableEnded) socket.end()
  if (socket.writableFinished) lingerThenClose(socket)
  else socket.once('finish', () => lingerThenClose(socket))
}

/** Sockets in their lingering close. */
const lingering = new WeakSet<Duplex>()

/**
 * Restarts reading at the handle: a handle a parser consumes was stopped there (back-pressure, or after a
 * parse error), the stream's resume does not restart it, and bytes left unread turn the close into a reset.
 */
function readHandle(socket: Duplex): void {
  const handle = (socket as Duplex & { _handle?: { reading?: boolean; readStart?: () => number } | null })._handle
  if (handle?.readStart !== undefined && handle.reading !== true) {
    handle.reading = true
    handle.readStart()
  }
}

function bytesReadOf(socket: Duplex): number {
  return (socket as Duplex & { bytesRead?: number }).bytesRead ?? 0
}

const REASONS: Record<number, string> = {
  400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 413: 'Payload Too Large', 414: 'URI Too Long',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}
