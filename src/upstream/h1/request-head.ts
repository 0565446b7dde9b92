/**
 * Serializes a request head for an HTTP/1.1 upstream connection from what the proxy dispatches (method,
 * origin-form path, flat name/value list). The proxy has already dropped the client's hop-by-hop fields
 * and set `content-length` when the client sent one; without it a streamed body goes out chunked.
 */
export interface RequestFraming {
  /** The head, ending with the blank line. */
  head: Buffer
  /** The body is sent with chunked framing (no Content-Length was given). */
  chunked: boolean
}

/** Fields a request head must not carry upstream: the connection's own, set here. */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te'])

/** `hasBody`: a body will follow (streamed); false for none or an empty one. */
export function requestHead(method: string, path: string, headers: readonly string[], hostFallback: string, hasBody: boolean): RequestFraming {
  let s = `${method} ${path} HTTP/1.1\r\n`
  let hasHost = false
  let hasLength = false
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string
    const lower = name.length <= 17 ? name.toLowerCase() : ''
    if (lower === 'host') hasHost = true
    else if (lower === 'content-length') hasLength = true
    else if (CONNECTION_FIELDS.has(lower)) continue
    s += `${name}: ${headers[i + 1] as string}\r\n`
  }
  if (!hasHost) s = `${method} ${path} HTTP/1.1\r\nhost: ${hostFallback}\r\n${s.slice(s.indexOf('\r\n') + 2)}`
  const chunked = hasBody && !hasLength
  if (chunked) s += 'transfer-encoding: chunked\r\n'
  s += 'connection: keep-alive\r\n\r\n'
  return { head: Buffer.from(s, 'latin1'), chunked }
}
