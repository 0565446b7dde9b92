/**
 * The file format (`lb.config.yaml` / `.json`) as ONE zod schema. Parsing it yields the normalised
 * configuration (durations in ms, sizes in bytes, defaults filled) minus `source`, which `load.ts` adds.
 * Cross-field rules that need the whole document live in `cross-check.ts`.
 * The input side of this schema is also the published JSON schema (`json-schema.ts`).
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import type { LbConfig, StateConfig } from './types.js'
import { count, duration, host, ipOrCidr, port, size, strictObject, text } from './schema-parts.js'
import { POOL_NAME, poolSchema } from './schema-pool.js'
import { routeSchema } from './schema-route.js'

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

const NODE_FORM = 'expected "host:port" or { host, port }'
const redisNode = z
  .union([
    z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: NODE_FORM }),
    strictObject({ host, port }),
  ], { error: NODE_FORM })
  .transform((n) => {
    if (typeof n !== 'string') return n
    const i = n.lastIndexOf(':')
    return { host: n.slice(0, i), port: Number(n.slice(i + 1)) }
  })

const redis = strictObject({
  url: z.string().regex(/^rediss?:\/\/\S+$/, { error: 'expected a redis:// or rediss:// URL' }).optional().describe('Standalone Redis: redis://[:password@]host:port[/db] (rediss:// for TLS).'),
  sentinels: z.array(redisNode).min(1).optional().describe('Redis Sentinel nodes ("host:port" or { host, port }); needs name.'),
  name: text('the Sentinel master name').optional().describe('Sentinel master name (with sentinels).'),
  cluster: z.array(redisNode).min(1).optional().describe('Redis Cluster seed nodes ("host:port" or { host, port }).'),
  keyPrefix: z.string().default('lb:').describe('Prefix of every key the balancer writes. Default "lb:".'),
})
  .superRefine((r, ctx) => {
    const given = [r.url, r.sentinels, r.cluster].filter((x) => x !== undefined).length
    if (given !== 1) ctx.addIssue({ code: 'custom', message: `expected exactly one of url, sentinels (+ name) or cluster, got ${given === 0 ? 'none' : 'several'}` })
    if (r.sentinels !== undefined && r.name === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'missing: expected the Sentinel master name (with sentinels)' })
    if (r.name !== undefined && r.sentinels === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'expected name only together with sentinels' })
  })
  .describe('Redis connection: exactly one of url, sentinels + name, or cluster.')

const state = z
  .union([z.literal('memory'), strictObject({ redis })], { error: 'expected "memory" or { redis: { url | sentinels + name | cluster } }' })
  .transform((s): StateConfig => s === 'memory'
    ? { kind: 'memory' }
    : { kind: 'redis', url: s.redis.url, sentinels: s.redis.sentinels, sentinelName: s.redis.name, cluster: s.redis.cluster, keyPrefix: s.redis.keyPrefix })
  .describe('Shared state: "memory" (embedded, one instance) or { redis: ... } (several instances act as one). Default memory.')

const tls = strictObject({
  port: port.default(8443).describe('TLS listener port. Default 8443.'),
  host: host.default('0.0.0.0').describe('TLS listener address. Default 0.0.0.0.'),
  certificates: z.array(strictObject({
    cert: text('a certificate file path (PEM)').describe('Certificate chain, PEM file path (relative to the config file) or inline PEM.'),
    key: text('a private key file path (PEM)').describe('Private key, PEM file path (relative to the config file) or inline PEM.'),
    serverNames: z.array(text('a server name')).default([]).describe('SNI names served with this certificate (`*.example.com` allowed). The first certificate is the default.'),
  })).min(1, { error: 'expected at least one certificate' }).describe('Certificates, chosen by SNI; reloaded when the files change.'),
  http2: z.boolean().default(false).describe('Offer HTTP/2 via ALPN on the TLS listener. Default false.'),
  redirectHttp: z.boolean().default(false).describe('Answer plain-HTTP requests with a redirect to https. Default false.'),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Lowest TLS version accepted. Default TLSv1.2.'),
}).describe('Optional TLS listener (in addition to listen).')

const limits = strictObject({
  headerTimeout: duration.prefault('10s').describe('Client must send all request headers within this (408). Default 10s.'),
  requestTimeout: duration.prefault('60s').describe('Whole request (headers + body) must arrive within this. Default 60s.'),
  keepAliveTimeout: duration.prefault('5s').describe('Idle keep-alive timeout of client connections. Default 5s.'),
  sendTimeout: duration.prefault('60s').describe('A client that reads nothing of its response for this long (no buffered byte is sent) is disconnected, which ends the upstream request. 0 = never. Default 60s.'),
  maxHeaderSize: size.prefault('16KiB').describe('Request head size limit (431). Default 16KiB.'),
  maxHeaderCount: count(1).default(100).describe('Request header field count limit (431). Default 100.'),
  maxUrlLength: size.prefault('8KiB').describe('Request target length limit (414). Default 8KiB.'),
  maxBodySize: size.optional().describe('Request body size limit (413). Default: unlimited.'),
})
  .transform((l) => ({
    headerTimeoutMs: l.headerTimeout,
    requestTimeoutMs: l.requestTimeout,
    keepAliveTimeoutMs: l.keepAliveTimeout,
    sendTimeoutMs: l.sendTimeout,
    maxHeaderBytes: l.maxHeaderSize,
    maxHeaderCount: l.maxHeaderCount,
    maxUrlBytes: l.maxUrlLength,
    maxBodyBytes: l.maxBodySize,
  }))
  .describe('Client-side limits and deadlines.')

/** The whole configuration file. Parse output: `LbConfig` without `source`. */
export const configFileSchema = strictObject({
  $schema: z.string().optional().describe('JSON schema reference for editors; ignored.'),
  listen: strictObject({
    host: host.default('0.0.0.0').describe('Address to listen on. Default 0.0.0.0.'),
    port: port.default(8080).describe('HTTP port. Default 8080 (env PORT, flag --port).'),
    normalizePath: z.enum(['forward', 'match-only', 'off'], { error: 'expected "forward", "match-only" or "off"' }).default('match-only')
      .describe('Path normalization (dot-segments, unreserved percent-escapes, merged slashes): match-only (default) routes on the normalized path and forwards the path as sent; forward also sends the normalized path; off routes on the path as sent.'),
    allowEncodedSlashes: z.boolean().default(false).describe('Accept %2F and %5C in request paths. Default false: 400.'),
    h2c: z.boolean({ error: 'expected true or false' }).default(false).describe('Also accept HTTP/2 with prior knowledge (h2c, e.g. gRPC without TLS) on this port. Default false.'),
    reusePort: z.boolean({ error: 'expected true or false' }).default(false)
      .describe('Each worker binds its own socket with SO_REUSEPORT and the kernel spreads new connections over them (plain and TLS listeners), instead of the primary accepting every connection and handing it to a worker. Serves bursts of thousands of connections without the hand-off queue. Needs Node 22.12+ on Linux or FreeBSD; see docs/configuration.md for what it means when SIGUSR2 replaces the workers. Default false.'),
  }).prefault({}).describe('The plain-HTTP listener (its path rules apply to the TLS listener too).'),
  tls: tls.optional(),
  workers: z
    .union([z.literal('auto'), count(1)], { error: 'expected a number of workers >= 1 or "auto"' })
    .optional()
    .describe('Worker processes: a number, or "auto" = number of CPUs. Default auto (env WORKER_COUNT, flag --workers).'),
  state: state.prefault('memory'),
  admin: strictObject({
    host: host.default('127.0.0.1').describe('Admin server address. Default 127.0.0.1; anything beyond loopback requires a token.'),
    port: port.default(9901).describe('Admin server port. Default 9901.'),
    token: text('a bearer token').optional().describe('Bearer token for mutating admin calls (and every call beyond loopback). Env LB_ADMIN_TOKEN.'),
    allowedHosts: z.array(host).default([]).describe('Host names (no port) the admin server answers besides localhost, 127.0.0.1, [::1] and admin.host; other Host headers get 421 (DNS rebinding). /healthz and /readyz answer any Host. Default none.'),
  }).prefault({}).describe('Admin server: dashboard, metrics, API.'),
  metrics: strictObject({
    host: host.default('127.0.0.1').describe('Metrics listener address. Default 127.0.0.1; set 0.0.0.0 for a Prometheus outside the host (env METRICS_HOST).'),
    port: port.describe('Metrics listener port (env METRICS_PORT).'),
  }).optional().describe('Optional metrics listener: serves only GET /metrics (all workers aggregated), without a token and without the admin API. Off unless set.'),
  watchConfig: z.boolean().default(false).describe('Reload the configuration when its file changes (also Kubernetes ConfigMap symlink swaps), as SIGHUP does. Default false (flag --watch-config).'),
  log: strictObject({
    level: z.enum(LOG_LEVELS).default('info').describe('Log level. Default info (env LOG_LEVEL).'),
    accessLog: z.boolean().default(true).describe('One JSON line per request. Default true.'),
    format: z.enum(['json', 'pretty']).default('json').describe('Log format: json, or pretty (human-readable, through the optional package pino-pretty; JSON when it is missing). Default json.'),
    accessLogFile: text('a file path').optional().describe('Write the access log to this file instead of stdout.'),
    metrics: z.boolean().default(true).describe('Record Prometheus metrics in the workers. Default true; off only to measure their cost (the dashboard and /metrics then show no traffic).'),
  }).prefault({}).describe('Logging and metrics.'),
  limits: limits.prefault({}),
  trustedProxies: z.array(ipOrCidr).default([]).describe('Peers (IPs or CIDRs) whose X-Forwarded-For is trusted. Default none.'),
  via: z.boolean().default(false).describe('Add a Via header to requests and responses. Default false.'),
  drainTimeout: duration.prefault('30s').describe('How long SIGTERM waits for in-flight requests. Default 30s.'),
  pools: z
    .record(z.string().regex(POOL_NAME, { error: 'expected a pool name of letters, digits, ".", "_" or "-"' }), poolSchema)
    .refine((p) => Object.keys(p).length > 0, { error: 'expected at least one pool' })
    .transform((p) => Object.fromEntries(Object.entries(p).map(([name, pool]) => [name, { name, ...pool }])))
    .describe('Pools by name.'),
  routes: z
    .array(routeSchema)
    .default([])
    .transform((rs) => rs.map(({ name, ...r }, i) => ({ name: name ?? `route-${i}`, ...r })))
    .describe('Ordered routes; the first match wins. Empty: every request goes to the first pool.'),
})
  .transform((c): Omit<LbConfig, 'source'> => ({
    listen: c.listen,
    tls: c.tls,
    workers: c.workers === undefined || c.workers === 'auto' ? availableParallelism() : c.workers,
    state: c.state,
    admin: c.admin,
    metrics: c.metrics,
    watchConfig: c.watchConfig,
    log: c.log,
    limits: c.limits,
    trustedProxies: c.trustedProxies,
    via: c.via,
    drainTimeoutMs: c.drainTimeout,
    pools: c.pools,
    routes: c.routes,
  }))
  .describe('Configuration of the lb HTTP load balancer (lb.config.yaml / lb.config.json).')

/** The seed format, `config/backends.json`: `{ "backends": [{ "host": "127.0.0.1", "port": 3001 }] }`. */
export const SEED_KEYS = ['backends'] as const

/** Input type of the file (what users write). */
export type ConfigFileInput = z.input<typeof configFileSchema>
