/**
 * Schema of one route (`routes[i]`): match conditions, target pool, rewrite, header edits, rate limit.
 * Routes are ordered; the first match wins. The route name defaults to `route-<index>` (set in `schema.ts`).
 */
import { z } from 'zod'
import { headerName, headerValue, regex, requestKey, strictObject, text, urlPath } from './schema-parts.js'

const HOST_FORM = 'expected a host name or a *.suffix wildcard (no scheme, no port)'
const hostPattern = z.string({ error: HOST_FORM }).regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, { error: HOST_FORM })

const METHOD_FORM = 'expected an HTTP method such as GET'

const match = strictObject({
  host: z
    .union([hostPattern, z.array(hostPattern).min(1)], { error: 'expected a host name or a list of them' })
    .optional()
    .describe('Host(s) to match, without port; `*.example.com` matches any subdomain (not example.com itself).'),
  pathPrefix: urlPath.optional().describe('Match paths starting with this prefix (e.g. /api/).'),
  pathRegex: regex.optional().describe('Match paths (without query) against this JavaScript regular expression.'),
  methods: z.array(z.string().regex(/^[A-Za-z]+$/, { error: METHOD_FORM })).min(1).optional().describe('Match only these methods (any case).'),
  headers: z.record(headerName, z.string({ error: 'expected a header value (or "*" for present)' })).optional().describe('Header name -> exact value, or "*" for "present". All must match.'),
})
  .transform((m) => ({
    hosts: m.host === undefined ? undefined : (Array.isArray(m.host) ? m.host : [m.host]).map((h) => h.toLowerCase()),
    pathPrefix: m.pathPrefix,
    pathRegex: m.pathRegex,
    methods: m.methods?.map((x) => x.toUpperCase()),
    headers: m.headers === undefined ? undefined : Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), v])),
  }))
  .describe('Conditions, all of which must hold. Empty: matches every request.')

const headerEdits = strictObject({
  set: z.record(headerName, headerValue).default({}).describe('Set (replace) these headers.'),
  add: z.record(headerName, headerValue).default({}).describe('Append these headers.'),
  remove: z.array(headerName).default([]).describe('Remove these headers.'),
})
  .transform((h) => ({ set: h.set, add: h.add, remove: h.remove.map((x) => x.toLowerCase()) }))

const RATE_FORM = 'expected a rate such as 100/s, 6000/m, 10000/h or a number per second'
const RATE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 }

const rate = z
  .union([
    z.number({ error: RATE_FORM }).positive({ error: RATE_FORM }),
    z.string().regex(/^\s*\d+(\.\d+)?\s*\/\s*(s|m|h)\s*$/, { error: RATE_FORM }),
  ], { error: RATE_FORM })
  .transform((v, ctx) => {
    if (typeof v === 'number') return v
    const [n, unit] = v.replace(/\s/g, '').split('/')
    const perSecond = Number(n) / (RATE_UNITS[unit ?? 's'] ?? 1)
    if (!(perSecond > 0)) ctx.addIssue({ code: 'custom', message: `${RATE_FORM} (above 0), got ${JSON.stringify(v)}` })
    return perSecond
  })

const rateLimit = strictObject({
  rate: rate.describe('Sustained rate: "100/s", "6000/m", "10000/h" or a number per second.'),
  burst: z.int().min(1).optional().describe('Bucket size: requests allowed at once above the rate. Default: one second of rate (at least 1).'),
  key: requestKey(false).prefault('ip').describe('What is limited: "ip" (the client address) or "header:NAME". Default ip.'),
  scope: z.enum(['local', 'global']).default('global').describe('global: one limit for all workers and instances (through the state store); local: per worker. Default global.'),
})
  .transform((r) => ({ ratePerSecond: r.rate, burst: r.burst ?? Math.max(1, Math.ceil(r.rate)), key: r.key, scope: r.scope }))
  .describe('Token-bucket rate limit; over-limit requests get 429.')

const rewrite = strictObject({
  stripPrefix: urlPath.optional().describe('Remove this prefix from the path before forwarding (/api/users -> /users).'),
  replacePath: strictObject({
    pattern: regex.describe('Regular expression applied to the path.'),
    replacement: z.string().describe('Replacement, with $1-style groups.'),
  }).optional().describe('Regex replacement on the path, applied after stripPrefix.'),
}).describe('Path rewrite before forwarding.')

/** One route, without its default name (set from its index in `schema.ts`). */
export const routeSchema = strictObject({
  name: text('a route name').optional().describe('Name in logs and metrics. Default route-<index>.'),
  match: match.prefault({}),
  pool: text('a pool name').describe('Pool that serves matching requests (must exist under pools).'),
  rewrite: rewrite.optional(),
  requestHeaders: headerEdits.prefault({}).describe('Header edits on the request sent to the backend.'),
  responseHeaders: headerEdits.prefault({}).describe('Header edits on the response sent to the client.'),
  rateLimit: rateLimit.optional(),
}).describe('A route: requests matching `match` go to `pool`.')
