import type { ClientResponse } from './client-message.js'
import { ERROR_CODES, type ErrorCode } from '../core/index.js'
import { RETRY_AFTER_SECONDS, errorBody, markClosesConnection, markClosingAfterError, endThenLinger, statusFor } from '../wire/index.js'

/**
 * The one table from error codes to what the client sees: status, a short JSON body
 * `{ "error": "...", "requestId": "..." }`, and whether the connection must be closed
 * (framing errors: the rest of the byte stream cannot be trusted).
 */
const CLOSE_CONNECTION: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'LB_ERR_BAD_REQUEST',
  'LB_ERR_AMBIGUOUS_FRAMING',
  'LB_ERR_HEADERS_TOO_LARGE',
  'LB_ERR_URI_TOO_LONG',
  'LB_ERR_BODY_TOO_LARGE',
  'LB_ERR_REQUEST_TIMEOUT',
  'LB_ERR_UPGRADE_REFUSED',
])

/**
 * Answers a request with the error for `code`. Safe to call when headers were already sent:
 * then the connection is destroyed instead (the client must not take a truncated body as whole).
 * `requestSocket`: the request's connection, marked as closing when the code closes it (a pipelined
 * response's own `socket` is still null).
 */
export function sendError(res: ClientResponse, code: ErrorCode, requestId: string, message?: string, extraHeaders?: readonly string[], requestSocket?: object): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const status = statusFor(code)
  const body = errorBody(code, requestId, message)
  const headers: string[] = [
    'content-type', 'application/json; charset=utf-8',
    'content-length', String(Buffer.byteLength(body)),
    'x-request-id', requestId,
    'cache-control', 'no-store',
  ]
  if (extraHeaders !== undefined) for (const h of extraHeaders) headers.push(h)
  const hasRetryAfter = extraHeaders?.includes('retry-after') ?? false
  if ((status === 503 || status === 429) && !hasRetryAfter) headers.push('retry-after', String(RETRY_AFTER_SECONDS))
  const close = CLOSE_CONNECTION.has(code)
  if (close) {
    headers.push('connection', 'close')
    markClosesConnection(res)
    // A pipelined response has no socket until the responses before it are out: mark the request's
    // connection too, so requests parsed behind this one are never forwarded (see isClosingAfterError).
    if (res.socket != null) markClosingAfterError(res.socket)
    if (requestSocket !== undefined) markClosingAfterError(requestSocket)
  }
  res.writeHead(status, headers)
  res.end(body)
  if (close) {
    // Do not wait for the rest of a request we refused, but close in stages: a client still sending its
    // body would get a reset, and could lose the refusal, were the socket destroyed as soon as it is written.
    res.once('finish', () => {
      const socket = res.socket
      if (socket != null) endThenLinger(socket)
    })
  }
}

/**
 * gRPC status codes (grpc/doc/statuscodes.md) for the balancer's own errors. A gRPC client reads the
 * outcome of a call from `grpc-status`, not from the HTTP status; codes absent here follow gRPC's
 * HTTP-to-gRPC mapping (grpc/doc/http-grpc-status-mapping.md) of their HTTP status.
 */
const GRPC_STATUS: Partial<Record<ErrorCode, number>> = {
  LB_ERR_NO_BACKEND: 14, // UNAVAILABLE
  LB_ERR_CONNECT: 14,
  LB_ERR_RESET: 14,
  LB_ERR_UPSTREAM_PROTOCOL: 14,
  LB_ERR_OVERLOADED: 14,
  LB_ERR_STATE_UNAVAILABLE: 14,
  LB_ERR_UPSTREAM_TIMEOUT: 4, // DEADLINE_EXCEEDED
  LB_ERR_REQUEST_TIMEOUT: 4,
  LB_ERR_RATE_LIMITED: 8, // RESOURCE_EXHAUSTED
  LB_ERR_BODY_TOO_LARGE: 8,
  LB_ERR_HEADERS_TOO_LARGE: 8,
  LB_ERR_NO_ROUTE: 12, // UNIMPLEMENTED
  LB_ERR_CLIENT_ABORTED: 1, // CANCELLED
}

/** The gRPC status a gRPC client gets for `code`. */
export function grpcStatusFor(code: ErrorCode): number {
  const mapped = GRPC_STATUS[code]
  if (mapped !== undefined) return mapped
  switch (statusFor(code)) {
    case 400:
      return 13 // INTERNAL
    case 401:
      return 16 // UNAUTHENTICATED
    case 403:
      return 7 // PERMISSION_DENIED
    case 404:
      return 12 // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14 // UNAVAILABLE
    default:
      return 2 // UNKNOWN
  }
}

/** True for a gRPC request (`content-type: application/grpc`, `application/grpc+proto`, ...). */
export function isGrpcContentType(value: string): boolean {
  return value.length >= 16 && value.slice(0, 16).toLowerCase() === 'application/grpc'
}

/**
 * Ends a gRPC call with the error for `code`, as gRPC clients expect it: HTTP 200 and the outcome in the
 * `grpc-status` / `grpc-message` trailers (percent-encoded, as the gRPC wire format asks). When the
 * backend's response headers were already forwarded, the trailers close that response instead, so the
 * client sees the status (UNAVAILABLE for a backend lost mid-stream) rather than a reset stream.
 * Falls back to {@link sendError} where the response cannot carry trailers (HTTP/1.1). `message`
 * replaces the code's default text.
 */
export function sendGrpcError(res: ClientResponse, code: ErrorCode, requestId: string, message?: string, extraHeaders?: readonly string[], requestSocket?: object): void {
  if (res.addTrailers === undefined || res.destroyed || res.writableFinished) {
    sendError(res, code, requestId, message, extraHeaders, requestSocket)
    return
  }
  if (!res.headersSent) {
    const headers: string[] = ['content-type', 'application/grpc', 'x-request-id', requestId]
    if (extraHeaders !== undefined) for (const h of extraHeaders) headers.push(h)
    res.writeHead(200, headers)
  }
  res.addTrailers({
    'grpc-status': String(grpcStatusFor(code)),
    'grpc-message': grpcPercentEncode(`${message ?? ERROR_CODES[code].message} (${code}, request ${requestId})`),
  })
  res.end()
}

/** gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`, as %XX of UTF-8. */
function grpcPercentEncode(message: string): string {
  let out = ''
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
