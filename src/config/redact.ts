/**
 * The effective configuration with its secrets hidden, for `lb config print` (as `nginx -T` shows a
 * configuration, minus what must not reach a terminal or a ticket). Hidden, wherever they appear:
 * - fields whose name says they are a secret (`token`, `secret`, `password`, `passphrase`, `credentials`),
 *   so that secrets added by future options are covered without a list to keep in step;
 * - inline PEM private keys;
 * - the password (or lone user) of URLs such as `redis://user:pass@host`;
 * - header values of route header edits whose name carries credentials (`authorization`, `cookie`,
 *   `x-api-key`, names with `token`, `secret`, `password`).
 * File paths are kept: they tell where a secret is, not what it is.
 */
import type { LbConfig } from './types.js'

/** What replaces a hidden value. */
export const REDACTED = '<redacted>'

const SECRET_FIELD = /(token|secret|password|passphrase|credentials?)$/i
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|api-?key|password/i
const URL_WITH_USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*@/i

/** Hides the credentials of a URL (`redis://:***@host:6379`). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    else if (u.username !== '') u.username = '***'
    return u.toString()
  } catch {
    return REDACTED
  }
}

function redactValue(key: string, value: unknown, inHeaders: boolean): unknown {
  if (typeof value === 'string') {
    if (SECRET_FIELD.test(key) || (inHeaders && SECRET_HEADER.test(key))) return REDACTED
    if (value.includes('-----BEGIN') && /PRIVATE KEY/.test(value)) return REDACTED
    if (URL_WITH_USERINFO.test(value)) return redactUrl(value)
    return value
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(key, v, inHeaders))
  if (value !== null && typeof value === 'object') {
    // Header edits: `{ set: { name: value }, add: { name: value } }`: the keys there are header names.
    const headers = key === 'requestHeaders' || key === 'responseHeaders'
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, redactValue(k, v, inHeaders || (headers && (k === 'set' || k === 'add')))]),
    )
  }
  return value
}

/** A deep copy of `config` with every secret replaced (see the module comment); `config` is not modified. */
export function redactConfig(config: LbConfig): LbConfig {
  return redactValue('', config, false) as LbConfig
}
