/**
 * Which client a request counts against. `ip`: the client address the proxy resolved (its
 * ClientAddressResolver honours X-Forwarded-For only when the socket peer is a trusted proxy, so a client
 * cannot pick its own key through that header). `header:NAME`: the first value of that header; a request
 * without it counts against one shared key `''` (all header-less requests together share one bucket, so a
 * client cannot escape the limit by omitting the header). `cookie:NAME` (not offered by the configuration
 * today) works the same way. Keys longer than 128 characters are replaced by their SHA-256 (bounded memory).
 */
import { createHash } from 'node:crypto'
import { requestKey, type RequestKeySource } from '../core/index.js'

const MAX_KEY_LENGTH = 128

/** The rate-limit key of a request; see the file comment. `rawHeaders` as in `IncomingMessage.rawHeaders`. */
export function rateLimitKey(on: RequestKeySource, rawHeaders: readonly string[], clientIp: string): string {
  return boundedRateLimitKey(requestKey(on, rawHeaders, clientIp))
}

/** A request key (from {@link requestKey}) as a rate-limit key: absent counts as `''`, long ones are hashed. */
export function boundedRateLimitKey(key: string | undefined): string {
  if (key === undefined) return ''
  return key.length > MAX_KEY_LENGTH ? `sha256:${createHash('sha256').update(key).digest('base64url')}` : key
}
