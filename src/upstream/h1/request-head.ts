/**
 * Serializes a request for an HTTP/1.1 upstream connection from what the proxy dispatches (method,
 * origin-form path, flat name/value list), byte for byte as undici writes it, so that a backend sees the
 * same request on either path: `host` first (the client's, else the endpoint's authority), then
 * `connection`, then the fields in order, then the framing (`content-length` or chunked) last. The proxy
 * has already dropped the client's hop-by-hop fields and passes `content-length` when the client sent one.
 */
export interface RequestHead {
  /** Request line and fields, without framing and without the blank line. */
  head: string
  /** The request's declared length (its `content-length`), or null. */
  contentLength: number | null
  /** `connection: close` was sent: the connection is not reused (HEAD, as undici does). */
  close: boolean
  /** A method whose semantics anticipate a body (undici sends `content-length: 0` for an empty one). */
  expectsPayload: boolean
}

export function requestHead(method: string, path: string, headers: readonly string[], authority: string): RequestHead {
  let host = ''
  let fields = ''
  let contentLength: number | null = null
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string
    const value = headers[i + 1] as string
    if (name.length === 4 && name.toLowerCase() === 'host') {
      host = value
      continue
    }
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      contentLength = Number(value)
      continue
    }
    fields += `${name}: ${value}\r\n`
  }
  // Close after a HEAD, as undici does: a misbehaving server may send a body after all.
  const close = method === 'HEAD'
  const head = `${method} ${path} HTTP/1.1\r\nhost: ${host === '' ? authority : host}\r\nconnection: ${close ? 'close' : 'keep-alive'}\r\n${fields}`
  const expectsPayload = method === 'PUT' || method === 'POST' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH'
  return { head, contentLength, close, expectsPayload }
}
