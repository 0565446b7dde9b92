/**
 * The admin server's defence against DNS rebinding: a web page on a name its author controls can make
 * that name resolve to 127.0.0.1 and then read the admin server from the operator's browser, as its own
 * origin. The browser still sends the page's name in `Host`, so only requests naming the admin server
 * by a name it knows are served: loopback names, the configured admin host and `admin.allowedHosts`.
 */
import { isIP } from 'node:net'

/**
 * Builds the check for an admin server listening on `adminHost` with the extra `allowedHosts`
 * (names or IP addresses, any case, no port). The returned function takes the request's `Host` header
 * (with or without a port) and tells whether the request may be served. A request without `Host`
 * (HTTP/1.0, which Node accepts without one) is served: no browser sends such a request.
 */
export function createHostCheck(adminHost: string, allowedHosts: readonly string[] = []): (host: string | undefined) => boolean {
  const names = new Set(['localhost', '127.0.0.1', '::1'])
  for (const h of [adminHost, ...allowedHosts]) names.add(bare(h.toLowerCase()))
  // A wildcard bind address is not a name anyone sends.
  names.delete('0.0.0.0')
  names.delete('::')
  return (host) => {
    if (host === undefined) return true
    const name = hostName(host.toLowerCase())
    return names.has(name) || (isIP(name) === 4 && name.startsWith('127.'))
  }
}

/** `[::1]` -> `::1`; a trailing dot dropped (`localhost.` names the same host). */
function bare(h: string): string {
  const unbracketed = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h
  return unbracketed.endsWith('.') ? unbracketed.slice(0, -1) : unbracketed
}

/** The name part of a Host header value: the port removed, IPv6 brackets removed. */
function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']')
    return end === -1 ? host : host.slice(1, end)
  }
  const colon = host.lastIndexOf(':')
  return bare(colon === -1 ? host : host.slice(0, colon))
}
