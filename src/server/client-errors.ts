import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../core/index.js'
import { closesConnection, endThenLinger, isClosingAfterError, writeRawError } from '../wire/index.js'
import type { ConnectionRegistry } from './connection-registry.js'

/**
 * Answers what Node's HTTP parser refused before a request existed (the `clientError` event):
 * oversized heads get 431 (or 414 when the request line alone is too long), deadlines 408, every
 * other parse error 400, and the connection is always closed: after a framing error the rest of
 * the byte stream cannot be trusted. Errors found after a request was emitted (in its chunked body, or in
 * a pipelined request behind it) are answered in order, never in the middle of another response: the
 * listener's `registry` knows the response being written and, on `node:http`, the ones queued behind it.
 */
export function handleClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex, maxUrlBytes: number, registry: ConnectionRegistry): void {
  const code = err.code ?? ''
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    socket.destroy()
    return
  }
  // The parser stays failed: every later packet on this socket reports again. Answer once; the refusal's
  // lingering close reads and drops what follows (its socket is no longer writable: not a reason to destroy).
  if (answered.has(socket)) return
  if (!socket.writable) {
    // Ended by the balancer after a response that closes the connection (a refusal, the client's
    // `Connection: close`, HTTP/1.0 or 0.9): the error is in bytes sent after the last request answered,
    // which are dropped, not answered. That response may not be flushed yet (it was ended in the same
    // parsed batch), and a destroy would drop it and answer the client's next bytes with a reset, which
    // can cost the client the response it has not read yet: close in stages once it is out.
    if (!socket.destroyed && socket.writableEnded) {
      answered.add(socket)
      endThenLinger(socket)
    } else socket.destroy()
    return
  }
  answered.add(socket)
  const error = codeFor(code, err.rawPacket, maxUrlBytes)
  // Both listeners' responses have the members read below (`req`, `headersSent`, `shouldKeepAlive`, events).
  const current = registry.current(socket as Socket) as ServerResponse | undefined
  // node:http has already handed the pipelined requests before the bad one to the handler: their responses
  // queue behind the current one. The error is answered after the last of them, in its own slot.
  const queued = (registry.responses(socket as Socket) as ServerResponse[]).filter((r) => !r.writableFinished && !r.destroyed)
  const res = queued.at(-1) ?? current
  // Bytes after a request that closes the connection (`Connection: close`, HTTP/1.0) are ignored, not
  // answered: the connection ends with that request's response.
  if (code === 'HPE_CLOSED_CONNECTION' && res != null) return
  // A queued response that closes the connection ends it: nothing after it is answered. Not the response of
  // the request whose body holds the error, which the list includes when it is the one in progress: that
  // request is the one refused, whether or not it asked to close (`Connection: close` with a bad chunk size
  // was left unanswered, its exchange waiting for a body that never came: the campaign's hangs on node:http).
  const inBody = res != null && !res.req.complete
  if (queued.some((r) => endsConnection(r) && !(inBody && r === res))) return
  if (res == null) return writeRawError(socket, error, randomUUID(), undefined, undefined, true)
  // The request guard's own refusal (sent with `Connection: close`) is on its way: let it flush and close.
  if (isClosingAfterError(socket)) return
  if (!res.req.complete && res !== current && current != null) {
    // The error is in the body of a queued request: answer it in that request's slot, after the one before.
    const before = queued.at(-2) ?? current
    // Prepended: node:http's own finish handler may end a half-closed socket before a later listener runs.
    before.prependOnceListener('finish', () => {
      if (before.shouldKeepAlive && !isClosingAfterError(socket)) writeRawError(socket, error, randomUUID(), undefined, undefined, true)
    })
    before.once('close', () => {
      if (!before.writableFinished) socket.destroy()
    })
    return
  }
  if (!res.req.complete) {
    // The error is in the body of the request being answered (bad chunking). After a response byte the
    // client must see the response cut short. Before, the 400 answers that request, and closes in stages
    // like every other refusal: the response in progress lets go of the socket and its exchange abandons
    // its try now, not when the lingering close ends (the balancer's own listener does the same in
    // Http1Connection.parseFailed, and never gets here with a response that sent nothing).
    if (res.headersSent) socket.destroy()
    else if (releaseSocket(res, socket)) writeRawError(socket, error, randomUUID(), undefined, undefined, true)
    else writeRawError(socket, error, randomUUID())
    return
  }
  // The error is in a later pipelined request: finish the response in progress first, then refuse and close.
  res.prependOnceListener('finish', () => {
    // Not after a response that closes the connection (the client's `Connection: close`, a refusal).
    if (res.shouldKeepAlive && !isClosingAfterError(socket)) writeRawError(socket, error, randomUUID(), undefined, undefined, true)
  })
  res.once('close', () => {
    if (!res.writableFinished) socket.destroy()
  })
}

/**
 * True when the connection ends after `res`: the client asked for it (`Connection: close`, HTTP/1.0, an
 * expectation answered without 100: node:http then clears `shouldKeepAlive`), or the balancer formed the
 * response with `Connection: close` ({@link closesConnection}).
 */
function endsConnection(res: ServerResponse): boolean {
  return !res.shouldKeepAlive || closesConnection(res)
}

/**
 * `node:http`: detaches the response in progress from `socket` (`ServerResponse.detachSocket`: nothing it
 * writes later reaches the socket, and the socket's close no longer reaches it) and emits its `close`, so
 * that its exchange abandons the try at once (the proxy's handler listens for it). False when `res` is not
 * a `node:http` response attached to `socket`: the caller then closes the socket at once instead.
 */
function releaseSocket(res: ServerResponse, socket: Duplex): boolean {
  if (typeof res.detachSocket !== 'function' || res.socket !== socket) return false
  res.detachSocket(socket as Socket)
  res.emit('close')
  return true
}

/** Sockets whose parse error was already answered. */
const answered = new WeakSet<Duplex>()

function codeFor(code: string, packet: Buffer | undefined, maxUrlBytes: number): ErrorCode {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return requestLineTooLong(packet, maxUrlBytes) ? 'LB_ERR_URI_TOO_LONG' : 'LB_ERR_HEADERS_TOO_LARGE'
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return 'LB_ERR_REQUEST_TIMEOUT'
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return 'LB_ERR_AMBIGUOUS_FRAMING'
    default:
      return 'LB_ERR_BAD_REQUEST'
  }
}

/** True when the first line of the packet (the request line) alone passes the URL limit. */
function requestLineTooLong(packet: Buffer | undefined, maxUrlBytes: number): boolean {
  if (packet === undefined) return false
  const eol = packet.indexOf('\r\n')
  return eol === -1 ? packet.length > maxUrlBytes : eol > maxUrlBytes
}
