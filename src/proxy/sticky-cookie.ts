import type { StickySessionConfig } from '../config/index.js'

/**
 * The `Set-Cookie` value pinning a client to an endpoint: the opaque tag, for the whole site
 * (`Path=/`), living `ttl`, out of reach of scripts (`HttpOnly`), sent on top-level navigations but
 * not cross-site subrequests (`SameSite=Lax`), and `Secure` when the client came over TLS.
 */
export function stickyCookie(sticky: Extract<StickySessionConfig, { kind: 'cookie' }>, tag: string, secure: boolean): string {
  const maxAge = Math.floor(sticky.ttlMs / 1000)
  return `${sticky.cookie}=${tag}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
}
