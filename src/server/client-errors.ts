import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../core/index.js'
import { writeRawError } from '../proxy/index.js'
import { isClosingAfterError } from '../proxy/error-response.js'

/**
 * Answers what Node's HTTP parser refused before a request existed (the `clientError` event):
 * oversized heads get 431 (or 414 when the request line alone is too long), deadlines 408, every
 * other parse error 400, and the connection is always closed: after a framing error the rest of
 * the byte stream cannot be trusted.
 */
export function handleClientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex, maxUrlBytes: number): void {
  const code = err.code ?? ''
  if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
    socket.destroy()
    return
  }
  // A response already in progress on this socket cannot be followed by an error response. When it is
  // itself the request guard's refusal (sent with `Connection: close`), let it flush: it closes the socket.
  if ((socket as Duplex & { _httpMessage?: unknown })._httpMessage != null) {
    if (!isClosingAfterError(socket)) socket.destroy()
    return
  }
  writeRawError(socket, codeFor(code, err.rawPacket, maxUrlBytes), randomUUID())
}

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
