/**
 * Which client a request counts against. `ip`: the client address the proxy resolved (its
 * ClientAddressResolver honours X-Forwarded-For only when the socket peer is a trusted proxy, so a client
 * cannot pick its own key through that header). `header:NAME`: the first value of that header; a request
 * without it counts against one shared key `''` (all header-less requests together share one bucket, so a
 * client cannot escape the limit by omitting the header). `cookie:NAME` (not offered by the configuration
 * today) works the same way. Keys longer than 128 characters are replaced by their SHA-256 (bounded memory).
 */
import { createHash } from 'node:crypto'
import type { HashOn } from '../config/index.js'

const MAX_KEY_LENGTH = 128

/** The rate-limit key of a request; see the file comment. `rawHeaders` as in `IncomingMessage.rawHeaders`. */
export function rateLimitKey(on: HashOn, rawHeaders: readonly string[], clientIp: string): string {
  let key = ''
  if (on.kind === 'ip') key = clientIp
  else if (on.kind === 'header') key = headerValue(rawHeaders, on.name)
  else key = cookieValue(headerValue(rawHeaders, 'cookie'), on.name)
  return key.length > MAX_KEY_LENGTH ? `sha256:${createHash('sha256').update(key).digest('base64url')}` : key
}

function headerValue(raw: readonly string[], name: string): string {
  const n = name.length
  for (let i = 0; i < raw.length; i += 2) {
    const h = raw[i] as string
    if (h.length === n && h.toLowerCase() === name.toLowerCase()) return (raw[i + 1] as string).trim()
  }
  return ''
}

function cookieValue(header: string, name: string): string {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return ''
}
