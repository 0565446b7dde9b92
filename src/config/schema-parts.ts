/**
 * Building blocks of the file schema: strict objects with "did you mean", durations, sizes, ports,
 * URLs, `ip | header:NAME | cookie:NAME` keys. Each carries its own message in the problem style
 * (`expected ...`), and a `.describe()` text that becomes the JSON schema's tooltip.
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import type { HashOn } from './types.js'
import { DURATION_PATTERN, SIZE_PATTERN, parseDuration, parseSize } from './duration.js'
import { didYouMean } from './issues.js'

/**
 * A strict object: unknown keys are errors, each suggested against the known keys
 * (one message line per unknown key, in order; see `issues.ts`).
 */
export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape)
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? iss.keys.map((k) => `unknown key${didYouMean(k, known)}`).join('\n') : undefined),
  })
}

/** A duration (`250ms`, `5s`, `1m`, `1h`, or a number of ms) -> milliseconds. */
export const duration = z
  .union([
    z.number({ error: 'expected a duration such as 250ms, 5s, 1m or a number of milliseconds' }).min(0, { error: 'expected a duration >= 0' }),
    z.string().regex(new RegExp(DURATION_PATTERN), { error: 'expected a duration such as 250ms, 5s, 1m or a number of milliseconds' }),
  ], { error: 'expected a duration such as 250ms, 5s, 1m or a number of milliseconds' })
  .transform((v) => parseDuration(v) ?? 0)

/** A size (`512B`, `16KiB`, `1MiB`, `10MB`, or a number of bytes) -> bytes. */
export const size = z
  .union([
    z.int({ error: 'expected a size such as 512B, 16KiB, 1MiB or a number of bytes' }).min(0, { error: 'expected a size >= 0' }),
    z.string().regex(new RegExp(SIZE_PATTERN), { error: 'expected a size such as 512B, 16KiB, 1MiB or a number of bytes' }),
  ], { error: 'expected a size such as 512B, 16KiB, 1MiB or a number of bytes' })
  .transform((v) => parseSize(v) ?? 0)

/** A TCP port, 1-65535. */
export const port = z.int({ error: 'expected an integer port 1-65535' }).min(1, { error: 'expected an integer port 1-65535' }).max(65535, { error: 'expected an integer port 1-65535' })

/** A whole number >= min. */
export function count(min = 0) {
  return z.int({ error: `expected an integer >= ${min}` }).min(min, { error: `expected an integer >= ${min}` })
}

/** A percentage 0-100. */
export const percent = z.number({ error: 'expected a percentage 0-100' }).min(0, { error: 'expected a percentage 0-100' }).max(100, { error: 'expected a percentage 0-100' })

/** A host name or IP address to bind to or reach (no scheme, no port). */
export const host = z
  .string({ error: 'expected a host name or IP address' })
  .min(1, { error: 'expected a host name or IP address' })
  .refine((h) => isIP(h) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(h), { error: 'expected a host name or IP address (no scheme, no port)' })

/** A non-empty string. */
export function text(what: string) {
  return z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what} (not empty)` })
}

/** A URL path: starts with `/`. */
export const urlPath = z.string({ error: 'expected a path starting with /' }).startsWith('/', { error: 'expected a path starting with /' })

/** A regular expression source that must compile (JavaScript syntax). */
export const regex = z.string({ error: 'expected a regular expression' }).superRefine((src, ctx) => {
  try {
    new RegExp(src)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `expected a valid regular expression, got ${JSON.stringify(src)} (${(err as Error).message})` })
  }
})

/**
 * A backend URL with no path, query or credentials: `http://` or `https://` (host: an IP address, or a
 * name resolved by DNS discovery), or `srv+http://` / `srv+https://` naming an SRV record (no port).
 */
export const backendUrl = z.string({ error: 'expected an http:// or https:// URL' }).superRefine((s, ctx) => {
  let url: URL
  try {
    url = new URL(s)
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL such as http://10.0.0.5:3000' })
    return
  }
  if (url.protocol === 'srv+http:' || url.protocol === 'srv+https:') {
    // SRV discovery: the records give the targets and their ports.
    if (url.port !== '') ctx.addIssue({ code: 'custom', message: 'expected an srv+http:// URL without a port (the SRV records give the ports), such as srv+http://_http._tcp.backend.internal' })
    else if (isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0) ctx.addIssue({ code: 'custom', message: 'expected an SRV name such as _http._tcp.backend.internal, not an IP address' })
    return
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL' })
  else if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') ctx.addIssue({ code: 'custom', message: 'expected a URL without a path or query (routes rewrite paths)' })
  else if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'expected a URL without credentials' })
})

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** An HTTP header field name. */
export const headerName = z.string().regex(HEADER_NAME, { error: 'expected an HTTP header name' })

/** A header field value (RFC 9110 5.5): visible characters, spaces and tabs; never CR, LF or NUL. */
export const headerValue = z.string({ error: 'expected a header value' }).regex(/^[\t\x20-\x7e\x80-\xff]*$/, { error: 'expected a header value without control characters (CR, LF, NUL...)' })

/** Parses `ip`, `header:NAME` or `cookie:NAME` (cookie only when allowed); undefined when invalid. */
export function parseHashOn(value: string, allowCookie: boolean): HashOn | undefined {
  if (value === 'ip') return { kind: 'ip' }
  const m = /^(header|cookie):(.+)$/.exec(value)
  if (m === null || m[2] === undefined || !HEADER_NAME.test(m[2])) return undefined
  if (m[1] === 'header') return { kind: 'header', name: m[2].toLowerCase() }
  return allowCookie ? { kind: 'cookie', name: m[2] } : undefined
}

/** A request key: `ip`, `header:NAME` and, when `allowCookie`, `cookie:NAME`. */
export function requestKey(allowCookie: boolean) {
  const forms = allowCookie ? '"ip", "header:NAME" or "cookie:NAME"' : '"ip" or "header:NAME"'
  const pattern = allowCookie ? /^(ip|header:.+|cookie:.+)$/ : /^(ip|header:.+)$/
  return z
    .string({ error: `expected ${forms}` })
    .regex(pattern, { error: `expected ${forms}` })
    .transform((v, ctx) => {
      const parsed = parseHashOn(v, allowCookie)
      if (parsed === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected ${forms} with a valid header or cookie name, got ${JSON.stringify(v)}` })
        return z.NEVER
      }
      return parsed
    })
}

/** An IP address or CIDR block (`10.0.0.0/8`, `::1`). */
export const ipOrCidr = z.string({ error: 'expected an IP address or CIDR block' }).refine((s) => {
  const [addr, bits, extra] = s.split('/')
  if (addr === undefined || extra !== undefined) return false
  const family = isIP(addr)
  if (family === 0) return false
  if (bits === undefined) return true
  const n = Number(bits)
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128)
}, { error: 'expected an IP address or CIDR block such as 10.0.0.0/8' })

/** True for `localhost`, 127.0.0.0/8 and ::1: an admin server there needs no token. */
export function isLoopbackHost(h: string): boolean {
  const lower = h.toLowerCase()
  return lower === 'localhost' || lower === '::1' || lower === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(lower)
}

/**
 * A DNS server address for `dnsResolvers`: an IP address with an optional port, as `node:dns`
 * `Resolver.setServers` takes it: `10.0.0.10`, `10.0.0.10:53`, `[fd00::10]:53`.
 */
export const dnsServer = z.string({ error: 'expected a DNS server address such as "10.0.0.10:53"' }).superRefine((s, ctx) => {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s)
  const v4 = /^([0-9.]+)(?::(\d+))?$/.exec(s)
  const ip = v6?.[1] ?? v4?.[1]
  const p = v6?.[2] ?? v4?.[2]
  const portOk = p === undefined || (Number(p) >= 1 && Number(p) <= 65535)
  const ipOk = ip !== undefined && isIP(ip) === (v6 === null ? 4 : 6)
  if (!ipOk || !portOk) ctx.addIssue({ code: 'custom', message: `expected a DNS server as an IP address with an optional port ("10.0.0.10:53", "[fd00::10]:53"), got ${JSON.stringify(s)}` })
})
