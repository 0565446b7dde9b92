/**
 * The effective configuration with its secrets hidden, for `lb config print`: the admin token, the
 * password (and user) of Redis URLs, inline PEM private keys, and header values that carry credentials
 * in route header edits. File paths are kept: they tell where a secret is, not what it is.
 */
import type { LbConfig } from './types.js'

/** What replaces a hidden value. */
export const REDACTED = '<redacted>'

const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|api-?key|password/i

/** Hides the credentials of a URL (`redis://:***@host:6379`). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    if (u.username !== '' && u.password === '') u.username = '***'
    return u.toString()
  } catch {
    return REDACTED
  }
}

function redactHeaders(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, SECRET_HEADER.test(k) ? REDACTED : v]))
}

/** A deep copy of `config` with every secret replaced (see the module comment); `config` is not modified. */
export function redactConfig(config: LbConfig): LbConfig {
  const out = structuredClone(config)
  if (out.admin.token !== undefined) out.admin.token = REDACTED
  if (out.state.kind === 'redis' && out.state.url !== undefined) out.state.url = redactUrl(out.state.url)
  if (out.tls !== undefined) {
    out.tls.certificates = out.tls.certificates.map((c) => ({ ...c, key: c.key.includes('-----BEGIN') ? REDACTED : c.key }))
  }
  out.routes = out.routes.map((r) => ({
    ...r,
    requestHeaders: { ...r.requestHeaders, set: redactHeaders(r.requestHeaders.set), add: redactHeaders(r.requestHeaders.add) },
    responseHeaders: { ...r.responseHeaders, set: redactHeaders(r.responseHeaders.set), add: redactHeaders(r.responseHeaders.add) },
  }))
  return out
}
