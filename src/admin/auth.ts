/**
 * Admin authentication: a bearer token compared in constant time (both sides hashed to 32 bytes
 * first, so neither the length nor a prefix leaks through timing).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** True when the `Authorization` header carries `Bearer <token>`. Empty token: never true. */
export function hasBearerToken(authorization: string | undefined, token: string): boolean {
  if (token === '' || authorization === undefined) return false
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  if (m === null || m[1] === undefined) return false
  return timingSafeEqual(digest(m[1]), digest(token))
}

/** A random token (24 bytes, base64url) for a loopback admin server started without one. */
export function generateToken(): string {
  return randomBytes(24).toString('base64url')
}

/**
 * True when the `Authorization` header carries HTTP Basic credentials whose password is `token`
 * (any user name). Accepted for read-only calls only, so a browser can open the dashboard of a
 * non-loopback admin server (it then sends the credentials itself, EventSource included); mutating
 * calls require a Bearer token, which a cross-site form cannot send.
 */
export function hasBasicToken(authorization: string | undefined, token: string): boolean {
  if (token === '' || authorization === undefined) return false
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization)
  if (m === null || m[1] === undefined) return false
  const decoded = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return false
  return timingSafeEqual(digest(decoded.slice(colon + 1)), digest(token))
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (an admin server there may run without a configured token). */
export function isLoopbackHost(h: string): boolean {
  const lower = h.toLowerCase()
  return lower === 'localhost' || lower === '::1' || lower === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(lower)
}
