import { isIP } from 'node:net'

/**
 * True when a backend URL is resolved by DNS discovery: its host is a name, or it is `srv+http(s)://`.
 * `localhost` (and `*.localhost`) is not: it is what sample and test configurations use for a backend
 * on this host, and resolving it could yield `::1` next to 127.0.0.1 for a backend bound to one of them
 * only; it keeps being connected to as written.
 */
export function isDiscoveredUrl(url: string): boolean {
  const u = new URL(url)
  if (u.protocol === 'srv+http:' || u.protocol === 'srv+https:') return true
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return isIP(host) === 0 && host !== 'localhost' && !host.endsWith('.localhost')
}
