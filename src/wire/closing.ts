/**
 * Which connections end after the response being written, as facts set where that response is formed and
 * read by the listener that answers parse errors: after a response that closes the connection, nothing
 * parsed behind it may be answered or forwarded. Kept outside Node's private fields (`_header`, `_last`),
 * which the balancer's own listener does not have.
 */

/** Sockets whose last response is an error that closes them (see {@link isClosingAfterError}). */
const closingAfterError = new WeakSet<object>()

/**
 * True when `socket` carries an error response that closes the connection once written. A parse error
 * reported after that response was queued (llhttp finds some framing errors only when the body starts)
 * must then leave the socket alone: destroying it would drop the 400 before it is flushed. And a request
 * parsed after it (pipelined behind a refused one) is never forwarded: the client's bytes after a refused
 * request cannot be trusted to be where a request starts (request smuggling).
 */
export function isClosingAfterError(socket: object): boolean {
  return closingAfterError.has(socket)
}

/** Marks `socket` as closing after the response being formed (see {@link isClosingAfterError}). */
export function markClosingAfterError(socket: object): void {
  closingAfterError.add(socket)
}

/** Responses formed with `Connection: close` by the balancer (see {@link closesConnection}). */
const closingResponses = new WeakSet<object>()

/**
 * True when the balancer formed `res` with `Connection: close` (a refusal that closes, any response while
 * shutting down): its connection ends after it, so nothing parsed behind it may be answered. Kept here
 * because the header list given to `writeHead` is not readable back from the response.
 */
export function closesConnection(res: object): boolean {
  return closingResponses.has(res)
}

/** Records that `res` is sent with `Connection: close` (see {@link closesConnection}). */
export function markClosesConnection(res: object): void {
  closingResponses.add(res)
}
