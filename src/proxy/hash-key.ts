import type { HashOn, StickySessionConfig } from '../config/index.js'

/**
 * The request key of a request: client address, a header value or a cookie value (undefined when
 * absent). Feeds `consistent-hash` (`hashOn`) and sticky sessions (the `stickySession` cookie or header).
 */
export function hashKeyFor(on: HashOn | StickySessionConfig, raw: readonly string[], clientIp: string): string | undefined {
  if (on.kind === 'ip') return clientIp
  const header = on.kind === 'header' ? ('header' in on ? on.header : on.name.toLowerCase()) : 'cookie'
  const cookie = on.kind === 'cookie' ? ('cookie' in on ? on.cookie : on.name) : ''
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== header) continue
    const value = raw[i + 1] as string
    if (on.kind === 'header') return value
    const found = cookieValue(value, cookie)
    if (found !== undefined) return found
  }
  return undefined
}

function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
