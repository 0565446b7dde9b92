/**
 * Schema of one pool (`pools.<name>`): algorithm, backends, health checks, outlier detection, circuit breaker,
 * retries, timeouts. Durations come out in milliseconds; each default is
 * given beside its field (and listed in docs/configuration.md).
 */
import { z } from 'zod'
import { ALGORITHMS } from '../core/index.js'
import type { BackendConfig, RetryCondition, StickySessionConfig, UpstreamTlsConfig } from './types.js'
import { backendUrl, count, dnsServer, duration, host, percent, port, requestKey, strictObject, text, urlPath } from './schema-parts.js'
import { didYouMean, show } from './issues.js'

/** `http://host:port` for a host (IPv6 bracketed) and port. */
function urlOf(h: string, p: number): string {
  return `http://${h.includes(':') ? `[${h}]` : h}:${p}`
}

/** `host:port` of an http(s) URL, the default endpoint id. */
export function endpointIdOf(url: string): string {
  const u = new URL(url)
  // An SRV name stands for every target of its records: the name alone (its endpoints are `name@address:port`).
  if (u.protocol.startsWith('srv+')) return u.hostname
  return `${u.hostname}:${u.port === '' ? (u.protocol === 'https:' ? '443' : '80') : u.port}`
}

const backend = strictObject({
  // Visible ASCII only: ids go into response headers (the decision trace), metric labels and log lines,
  // where CR/LF/NUL or spaces would split or forge them.
  id: text('an endpoint id').regex(/^[\x21-\x7e]+$/, { error: 'expected an endpoint id of visible ASCII characters (no spaces, CR, LF or NUL)' }).optional()
    .describe('Endpoint id used by the admin API and metrics: visible ASCII, no spaces. Default: host:port of the URL.'),
  url: backendUrl.optional().describe('Backend base URL with host and port, no path (e.g. http://10.0.0.5:3000). A host name (not localhost) is resolved by DNS and every address becomes an endpoint; srv+http://_svc._tcp.name uses SRV records. Either url or host + port.'),
  host: host.optional().describe('Backend host (seed style, with port) instead of url.'),
  port: port.optional().describe('Backend port (seed style, with host) instead of url.'),
  weight: z.number({ error: 'expected a weight >= 0' }).min(0, { error: 'expected a weight >= 0' }).max(1_000_000, { error: 'expected a weight <= 1000000' }).default(1).describe('Relative share of traffic (weighted algorithms). 0 = send nothing. Default 1.'),
  backup: z.boolean().default(false).describe('Used only when no primary backend of the pool is ready. Default false.'),
  drained: z.boolean().default(false).describe('Start drained: receives no new requests until enabled through the admin API. Default false.'),
})
  .superRefine((b, ctx) => {
    if (b.url !== undefined && (b.host !== undefined || b.port !== undefined)) ctx.addIssue({ code: 'custom', message: 'both url and host + port given: use one of them' })
    else if (b.url === undefined && b.host === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'missing: expected an http:// or https:// URL (or host + port)' })
    else if (b.url === undefined && b.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'missing: expected a port with host' })
  })
  .transform((b): BackendConfig => {
    const url = b.url ?? urlOf(b.host ?? '', b.port ?? 80)
    return { id: b.id ?? endpointIdOf(url), url, weight: b.weight, backup: b.backup, drained: b.drained }
  })
  .describe('One backend: { url } or { host, port }, with optional id, weight, backup, drained.')

const STATUS_FORM = 'expected a status (200), a range ("200-399") or a class ("2xx")'

const statusRange = z
  .union([z.int().min(100, { error: STATUS_FORM }).max(599, { error: STATUS_FORM }), z.string().regex(/^([1-5]\d\d(-[1-5]\d\d)?|[1-5]xx)$/, { error: STATUS_FORM })], { error: STATUS_FORM })
  .transform((v, ctx): [number, number] => {
    if (typeof v === 'number') return [v, v]
    if (v.endsWith('xx')) {
      const c = Number(v[0]) * 100
      return [c, c + 99]
    }
    const [lo, hi] = v.split('-').map(Number)
    if (hi !== undefined && lo !== undefined && hi < lo) ctx.addIssue({ code: 'custom', message: `expected a range low-high, got ${JSON.stringify(v)}` })
    return [lo ?? 0, hi ?? lo ?? 0]
  })

const healthCheck = strictObject({
  enabled: z.boolean().default(true).describe('Run active health checks. Default true.'),
  path: urlPath.default('/').describe('Path probed on each backend. Default /.'),
  method: z.enum(['GET', 'HEAD', 'OPTIONS']).default('GET').describe('Probe method. Default GET.'),
  interval: duration.prefault('5s').describe('Time between probes of one backend. Default 5s.'),
  unhealthyInterval: duration.optional().describe('Time between probes while a backend is unhealthy. Default: interval.'),
  timeout: duration.optional().describe('A probe not answered within this fails. Default: 2s, or the interval when shorter.'),
  expectedStatuses: z.array(statusRange).min(1).prefault(['100-499']).describe('Statuses counting as healthy: codes, ranges ("200-399") or classes ("2xx"). Default 100-499 (any answer below 500).'),
  healthyThreshold: count(1).default(2).describe('Consecutive successes to turn healthy ("rise"). Default 2.'),
  unhealthyThreshold: count(1).default(3).describe('Consecutive failures to turn unhealthy ("fall"). Default 3.'),
  jitter: z.number().min(0).max(1).default(0.1).describe('Random extra delay per interval, as a fraction of the interval (0-1). Default 0.1.'),
  grpc: strictObject({
    service: z.string().max(1024).default('').describe('Service name asked about; "" = the server as a whole. Default "".'),
  })
    .optional()
    .describe('Probe with the gRPC health protocol (grpc.health.v1.Health/Check over HTTP/2: h2c for http://, h2 for https:// with upstreamTls) instead of an HTTP request: SERVING is healthy; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, a gRPC error or a timeout fail. path, method and expectedStatuses are then unused.'),
})
  .transform((h) => ({
    enabled: h.enabled,
    path: h.path,
    method: h.method,
    intervalMs: h.interval,
    unhealthyIntervalMs: h.unhealthyInterval ?? h.interval,
    // As HAProxy: by default a probe never outlives its interval, so a hanging backend fails one per interval.
    timeoutMs: h.timeout ?? Math.min(2000, h.interval),
    expectedStatuses: h.expectedStatuses,
    healthyThreshold: h.healthyThreshold,
    unhealthyThreshold: h.unhealthyThreshold,
    jitter: h.jitter,
    // Absent rather than undefined when not configured: the resolved configuration lists only what is set.
    ...(h.grpc === undefined ? {} : { grpc: h.grpc }),
  }))
  .describe('Active health checks, run once per balancer instance.')

const outlierDetection = strictObject({
  enabled: z.boolean().default(true).describe('Eject backends after consecutive failures. Default true.'),
  consecutiveFailures: count(1).default(5).describe('Consecutive failed requests (connect errors, resets, timeouts, 5xx) that eject a backend. Default 5.'),
  baseEjection: duration.prefault('30s').describe('First ejection time; doubles on each repeat. Default 30s.'),
  maxEjection: duration.prefault('300s').describe('Longest ejection time. Default 300s.'),
  maxEjectedPercent: percent.default(50).describe('Never eject more than this percent of the pool. Default 50.'),
})
  .transform((o) => ({ enabled: o.enabled, consecutiveFailures: o.consecutiveFailures, baseEjectionMs: o.baseEjection, maxEjectionMs: o.maxEjection, maxEjectedPercent: o.maxEjectedPercent }))
  .describe('Passive health checks (outlier ejection).')

const circuitBreaker = strictObject({
  maxConnections: count(0).default(0).describe('Max connections per backend per worker; 0 = unlimited. Default 0.'),
  maxPending: count(0).default(0).describe('Max requests waiting for a connection per backend per worker; 0 = unlimited. Default 0.'),
  maxRequests: count(0).default(0).describe('Max concurrent requests per backend per worker; 0 = unlimited. Default 0.'),
  errorRatePercent: percent.default(50).describe('Open when failures/requests reaches this percent over the window. Default 50.'),
  minRequests: count(1).default(20).describe('Requests in the window before the error rate counts. Default 20.'),
  window: duration.prefault('10s').describe('Error-rate window. Default 10s.'),
  open: duration.prefault('5s').describe('How long the circuit stays open before half-open. Default 5s.'),
  halfOpenRequests: count(1).default(3).describe('Trial requests in half-open state. Default 3.'),
})
  .transform((c) => ({ maxConnections: c.maxConnections, maxPending: c.maxPending, maxRequests: c.maxRequests, errorRatePercent: c.errorRatePercent, minRequests: c.minRequests, windowMs: c.window, openMs: c.open, halfOpenRequests: c.halfOpenRequests }))
  .describe('Circuit breaker per backend: closed / open / half-open.')

const RETRY_NAMED = ['connect-failure', 'reset', 'timeout'] as const
const RETRY_FORM = 'expected "connect-failure", "reset", "timeout", a status such as 503 or "status:500"'

const retryCondition = z
  .union([
    z.enum(RETRY_NAMED, { error: (iss) => `${RETRY_FORM}, got ${show(iss.input)}${didYouMean(iss.input, RETRY_NAMED)}` }),
    z.string().regex(/^(status:)?[1-5]\d\d$/, { error: (iss) => `${RETRY_FORM}, got ${show(iss.input)}${didYouMean(iss.input, RETRY_NAMED)}` }),
    z.int().min(100, { error: RETRY_FORM }).max(599, { error: RETRY_FORM }),
  ], { error: RETRY_FORM })
  .transform((v): RetryCondition => {
    if (v === 'connect-failure' || v === 'reset' || v === 'timeout') return v
    const code = typeof v === 'number' ? v : Number(v.replace('status:', ''))
    return code === 502 || code === 503 || code === 504 ? (String(code) as '502' | '503' | '504') : `status:${code}`
  })

const retries = strictObject({
  attempts: count(1).max(10, { error: 'expected at most 10 attempts' }).default(3).describe('Total tries including the first. 1 = no retries. Default 3.'),
  on: z.array(retryCondition).prefault(['connect-failure', 'reset', 'timeout', '502', '503', '504']).describe('Conditions that retry: connect-failure (any method), reset, timeout, status codes (idempotent methods, before any response byte). Default connect-failure, reset, timeout, 502, 503, 504.'),
  budgetPercent: percent.default(20).describe('Retries allowed as a share of active requests, percent; retries after a refused connection, or after a failure that took the backend out of rotation, are not rationed. Default 20.'),
  minRetriesPerSecond: count(0).default(10).describe('Retries always allowed per second regardless of the budget. Default 10.'),
  perTryTimeout: duration.prefault(0).describe('Timeout of one try; 0 = the response-header timeout. Default 0.'),
  backoffBase: duration.prefault('25ms').describe('First backoff delay (exponential with jitter). Default 25ms.'),
  backoffMax: duration.prefault('250ms').describe('Longest backoff delay. Default 250ms.'),
})
  .transform((r) => ({ attempts: r.attempts, on: r.on, budgetPercent: r.budgetPercent, minRetriesPerSecond: r.minRetriesPerSecond, perTryTimeoutMs: r.perTryTimeout, backoffBaseMs: r.backoffBase, backoffMaxMs: r.backoffMax }))
  .describe('Retries: when, how often, and the budget that bounds them.')

const timeouts = strictObject({
  connect: duration.prefault('3s').describe('Upstream connect timeout. Default 3s.'),
  headers: duration.prefault('30s').describe('Time to the response headers. Default 30s.'),
  idle: duration.prefault('4s').describe('Keep-alive idle time of upstream sockets (keep below the backend\'s own, Node: 5s). Default 4s.'),
  body: duration.prefault('60s').describe('Time without a byte of the response body from the backend, counted from its head; a body that stops is cut. Default 60s.'),
  tunnelIdle: duration.prefault('1h').describe('An upgraded connection (WebSocket) with no byte in either direction this long is closed. Default 1h.'),
})
  .transform((t) => ({ connectMs: t.connect, headersMs: t.headers, idleMs: t.idle, bodyMs: t.body, tunnelIdleMs: t.tunnelIdle }))
  .describe('Upstream timeouts.')

/** An HTTP token (RFC 9110), as cookie and header names must be. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

const stickySession = z
  .union([
    z.literal(true),
    strictObject({
      header: z.string().regex(TOKEN, { error: 'expected a header name' }).describe('Hash on this request header over the ready backends instead of a cookie (no cookie is set).'),
    }),
    strictObject({
      cookie: z.string().regex(TOKEN, { error: 'expected a cookie name (letters, digits, - _ .)' }).default('lb_sticky').describe('Cookie naming the chosen backend (an opaque signed tag, never its address). Default lb_sticky.'),
      ttl: duration.prefault('1h').describe('Cookie lifetime (Max-Age). Default 1h.'),
      secret: z.string({ error: 'expected a secret of at least 16 characters' }).min(16, { error: 'expected a secret of at least 16 characters' }).optional().describe('HMAC key of the cookie; instances sharing it honour each other\'s cookies. Default: env LB_STICKY_SECRET, else random per balancer instance.'),
    }),
  ], { error: 'expected true, { cookie, ttl, secret } or { header }' })
  .transform((s): StickySessionConfig => {
    if (s === true) return { kind: 'cookie', cookie: 'lb_sticky', ttlMs: 3_600_000, secret: '' }
    if ('header' in s) return { kind: 'header', header: s.header.toLowerCase() }
    // '' = not configured: load.ts fills in the environment's or the process's secret.
    return { kind: 'cookie', cookie: s.cookie, ttlMs: s.ttl, secret: s.secret ?? '' }
  })
  .describe('Pin a client to a backend: true, { cookie, ttl, secret } (a cookie the balancer sets) or { header } (hash on a request header).')

const upstreamTls = strictObject({
  ca: text('a PEM file path').optional().describe('CA bundle (PEM file) that verifies https:// backends instead of the system CAs. Reloaded when it changes.'),
  cert: text('a PEM file path').optional().describe('Client certificate (PEM file) presented to https:// backends (mTLS), with key. Reloaded when it changes.'),
  key: text('a PEM file path').optional().describe('Private key (PEM file) of cert. Reloaded when it changes.'),
  serverName: host.optional().describe('Name sent in SNI and checked against the backend certificate. Default: the host of the backend url.'),
  verify: z.boolean().default(true).describe('Verify backend certificates. Default true; false only for testing (lb check warns).'),
})
  .superRefine((t, ctx) => {
    if ((t.cert === undefined) !== (t.key === undefined)) ctx.addIssue({ code: 'custom', path: [t.cert === undefined ? 'cert' : 'key'], message: 'missing: expected cert and key together (client certificate for mTLS)' })
  })
  .transform((t): UpstreamTlsConfig => ({ ca: t.ca, cert: t.cert, key: t.key, serverName: t.serverName, verify: t.verify }))
  .describe('TLS to https:// backends: CA, client certificate (mTLS), server name, verification.')

/** Protocols the balancer speaks to a pool's backends. */
export const UPSTREAM_PROTOCOLS = ['http1', 'h2c', 'h2'] as const

/** Names a pool may have (they appear in URLs and metric labels). */
export const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** One pool, without its name (the record key; see `schema.ts`). */
export const poolSchema = strictObject({
  algorithm: z
    .enum(ALGORITHMS, { error: (iss) => `expected one of ${ALGORITHMS.join(', ')}, got ${show(iss.input)}${didYouMean(iss.input, ALGORITHMS)}` })
    .default('round-robin')
    .describe(`Load-balancing algorithm: ${ALGORITHMS.join(', ')}. Default round-robin.`),
  hashOn: requestKey(true).optional().describe('consistent-hash only: what to hash: "ip", "header:NAME" or "cookie:NAME". Default ip.'),
  backends: z.array(backend).min(1, { error: 'expected at least one backend' }).describe('The backends (endpoints) of the pool. At least one.'),
  healthCheck: healthCheck.prefault({}),
  outlierDetection: outlierDetection.prefault({}),
  circuitBreaker: circuitBreaker.prefault({}),
  retries: retries.prefault({}),
  timeouts: timeouts.prefault({}),
  slowStart: duration.prefault(0).describe('Ramp-up time for a recovered backend (e.g. 10s); 0 = off. Default 0.'),
  panicThresholdPercent: percent.default(0).describe('When fewer than this percent of the pool is ready, balance over all of it; 0 = off. Default 0.'),
  stickySession: stickySession.optional(),
  upstreamTls: upstreamTls.optional(),
  maxConnectionsPerEndpoint: count(1).default(256).describe('Max keep-alive connections per backend address per worker (endpoints with the same URL share their connections unless circuitBreaker.maxConnections or maxPending is set). Default 256.'),
  dnsRefresh: duration
    .refine((ms) => ms >= 1000, { error: 'expected a duration of at least 1s' })
    .prefault('30s')
    .describe('How often backend host names (and srv+ URLs) are resolved again; a shorter record TTL wins, never below 1s. Default 30s.'),
  dnsResolvers: z.array(dnsServer).optional().describe('DNS servers for this pool\'s backend names, as "IP" or "IP:port" (e.g. ["10.0.0.10:53"]). Default: the system\'s (/etc/resolv.conf).'),
  protocol: z
    .enum(UPSTREAM_PROTOCOLS, { error: (iss) => `expected one of ${UPSTREAM_PROTOCOLS.join(', ')}, got ${show(iss.input)}` })
    .default('http1')
    .describe('Protocol to the backends: http1, h2c (HTTP/2 prior knowledge over cleartext) or h2 (HTTP/2 over TLS via ALPN). Default http1.'),
})
  .transform((p) => ({
    algorithm: p.algorithm,
    hashOn: p.hashOn ?? { kind: 'ip' as const },
    backends: p.backends,
    healthCheck: p.healthCheck,
    outlierDetection: p.outlierDetection,
    circuitBreaker: p.circuitBreaker,
    retries: p.retries,
    timeouts: p.timeouts,
    slowStartMs: p.slowStart,
    panicThresholdPercent: p.panicThresholdPercent,
    stickySession: p.stickySession,
    upstreamTls: p.upstreamTls,
    maxConnectionsPerEndpoint: p.maxConnectionsPerEndpoint,
    protocol: p.protocol,
    dnsRefreshMs: p.dnsRefresh,
    dnsResolvers: p.dnsResolvers ?? [],
  }))
  .describe('A pool: a set of backends and how to balance over them.')
