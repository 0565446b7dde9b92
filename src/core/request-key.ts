/**
 * Where a request's key comes from: the client address, the first value of a header, or a cookie. The
 * same shape as the configuration's `hashOn`, rate-limit `key` and sticky sessions, so one extractor
 * serves consistent hashing, rate limits and stickiness alike.
 */
export type RequestKeySource = { readonly kind: 'ip' } | { readonly kind: 'header'; readonly name: string } | { readonly kind: 'cookie'; readonly name: string }

/**
 * The key of a request from `source`, or undefined when the header or cookie is absent.
 * `ip`: `clientIp` as the proxy resolved it (trusted proxies honoured). `header`: the first field of that
 * name (any case), trimmed. `cookie`: the first cookie of that name across every `Cookie` field.
 * `rawHeaders` is a flat name/value list as in `IncomingMessage.rawHeaders`. No allocation until a match.
 */
export function requestKey(source: RequestKeySource, rawHeaders: readonly string[], clientIp: string): string | undefined {
  if (source.kind === 'ip') return clientIp
  const name = source.kind === 'header' ? source.name : 'cookie'
  const n = name.length
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const h = rawHeaders[i] as string
    if (h.length !== n || h.toLowerCase() !== name.toLowerCase()) continue
    const value = rawHeaders[i + 1] as string
    if (source.kind === 'header') return value.trim()
    const found = cookieValue(value, source.name)
    if (found !== undefined) return found
  }
  return undefined
}

/** The value of cookie `name` in one `Cookie` field, trimmed, or undefined. */
function cookieValue(field: string, name: string): string | undefined {
  for (const part of field.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
