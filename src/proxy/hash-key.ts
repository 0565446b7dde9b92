import type { HashOn } from '../config/index.js'

/** The consistent-hash key of a request: client address, a header value or a cookie value ('' when absent). */
export function hashKeyFor(on: HashOn, raw: readonly string[], clientIp: string): string | undefined {
  if (on.kind === 'ip') return clientIp
  const name = on.kind === 'header' ? on.name.toLowerCase() : 'cookie'
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== name) continue
    const value = raw[i + 1] as string
    if (on.kind === 'header') return value
    const found = cookieValue(value, on.name)
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
