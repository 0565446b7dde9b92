import type { AlgorithmId } from '../core/index.js'

/**
 * The normalised configuration every other layer reads. Produced by `load.ts` from
 * defaults < file < environment < flags; durations are already milliseconds, sizes bytes.
 */
export interface LbConfig {
  /** Where the configuration came from (for messages and reload). */
  source: ConfigSource
  listen: {
    host: string
    port: number
    /** Path normalization for routing (default `match-only`; `forward` also sends it upstream; `off`). */
    normalizePath?: 'forward' | 'match-only' | 'off' | undefined
    /** Accept `%2F` / `%5C` in request paths (default false: 400). */
    allowEncodedSlashes?: boolean | undefined
    /** The plain listener also accepts HTTP/2 with prior knowledge (h2c; default false). */
    h2c?: boolean | undefined
    /** Workers bind their own sockets with SO_REUSEPORT (kernel balancing) instead of the primary's hand-off (default false). */
    reusePort?: boolean | undefined
  }
  /** Optional TLS listener (issue: edge features). */
  tls?: TlsConfig | undefined
  /** Number of worker processes; default: number of CPUs. */
  workers: number
  state: StateConfig
  admin: {
    host: string
    port: number
    token?: string | undefined
    /** Host names the admin server answers besides loopback names and `host` (default none). */
    allowedHosts?: string[] | undefined
  }
  /** Optional metrics listener: `GET /metrics` only, no token (undefined = off). */
  metrics?: { host: string; port: number } | undefined
  /** Reload when the configuration file changes (default false). */
  watchConfig?: boolean | undefined
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
    accessLog: boolean
    format: 'json' | 'pretty'
    accessLogFile?: string | undefined
    /** Record Prometheus metrics in the workers (default true; off only to measure what they cost). */
    metrics: boolean
  }
  /** Client-side limits and deadlines. */
  limits: ClientLimits
  /** Peers (IPs or CIDRs) whose X-Forwarded-For is trusted. */
  trustedProxies: string[]
  /** Add a `Via` header to requests and responses. */
  via: boolean
  /** How long SIGTERM waits for in-flight requests before closing them, ms (default 30 s). */
  drainTimeoutMs: number
  pools: Record<string, PoolConfig>
  /** Ordered; the first match wins. When empty, every request goes to the first pool. */
  routes: RouteConfig[]
}

export interface ConfigSource {
  /** Absolute path of the file read, if any. */
  file?: string | undefined
  /** 'seed' = config/backends.json; 'full' = lb.config.yaml/json; 'none' = defaults only. */
  kind: 'seed' | 'full' | 'none'
}

export interface TlsConfig {
  port: number
  host: string
  certificates: { cert: string; key: string; serverNames: string[] }[]
  http2: boolean
  redirectHttp: boolean
  minVersion: 'TLSv1.2' | 'TLSv1.3'
}

export type StateConfig =
  | { kind: 'memory' }
  | {
      kind: 'redis'
      url?: string | undefined
      sentinels?: { host: string; port: number }[] | undefined
      sentinelName?: string | undefined
      cluster?: { host: string; port: number }[] | undefined
      keyPrefix: string
    }

export interface ClientLimits {
  /** Client must send all headers within this, ms (default 10 s). */
  headerTimeoutMs: number
  /** Whole request (headers + body) must arrive within this, ms (default 60 s). */
  requestTimeoutMs: number
  /** Idle keep-alive timeout for client connections, ms (default 5 s). */
  keepAliveTimeoutMs: number
  /** A client that takes no response byte for this long is disconnected, ms (default 60 s; 0 = never). */
  sendTimeoutMs: number
  /** Request head size limit, bytes (default 16 KiB) -> 431. */
  maxHeaderBytes: number
  /** Request header field count limit (default 100) -> 431. */
  maxHeaderCount: number
  /** Request target length limit, bytes (default 8 KiB) -> 414. */
  maxUrlBytes: number
  /** Body size limit, bytes; undefined = unlimited -> 413. */
  maxBodyBytes?: number | undefined
}

/** What part of the request feeds `consistent-hash`. */
export type HashOn = { kind: 'ip' } | { kind: 'header'; name: string } | { kind: 'cookie'; name: string }

export interface BackendConfig {
  id: string
  url: string
  weight: number
  backup: boolean
  /** Start drained (operator state). */
  drained: boolean
  /** Set by DNS discovery only: the name an address was resolved from, checked by TLS (see `Endpoint`). */
  serverName?: string | undefined
}

export interface HealthCheckConfig {
  enabled: boolean
  path: string
  method: 'GET' | 'HEAD' | 'OPTIONS'
  intervalMs: number
  /** Interval while an endpoint is unhealthy (defaults to intervalMs). */
  unhealthyIntervalMs: number
  timeoutMs: number
  /** Inclusive status ranges counting as healthy; default [[100, 499]] (anything below 500). */
  expectedStatuses: [number, number][]
  /** Consecutive successes to turn healthy ("rise"). */
  healthyThreshold: number
  /** Consecutive failures to turn unhealthy ("fall"). */
  unhealthyThreshold: number
  /** Random extra delay per interval, as a fraction of the interval (0..1). */
  jitter: number
  /** Probe with the gRPC health protocol for this service ("" = the whole server) instead of HTTP. */
  grpc?: { service: string } | undefined
}

export interface OutlierDetectionConfig {
  enabled: boolean
  consecutiveFailures: number
  baseEjectionMs: number
  maxEjectionMs: number
  maxEjectedPercent: number
}

export interface CircuitBreakerConfig {
  /** Per endpoint, per worker; 0 = unlimited. */
  maxConnections: number
  maxPending: number
  maxRequests: number
  /** Error-rate breaker: open when failures/requests >= errorRatePercent over windowMs with >= minRequests. */
  errorRatePercent: number
  minRequests: number
  windowMs: number
  openMs: number
  halfOpenRequests: number
}

export type RetryCondition = 'connect-failure' | 'reset' | 'timeout' | '502' | '503' | '504' | `status:${number}`

export interface RetryConfig {
  /** Total tries including the first (default 3). */
  attempts: number
  on: RetryCondition[]
  /** Retries allowed as a share of active requests, percent (default 20). */
  budgetPercent: number
  /** Retries always allowed per second regardless of the budget (default 10). */
  minRetriesPerSecond: number
  /** Timeout of one try, ms; 0 = the response-header timeout. */
  perTryTimeoutMs: number
  backoffBaseMs: number
  backoffMaxMs: number
}

export interface UpstreamTimeouts {
  connectMs: number
  /** Time to the response headers (default 30 s). */
  headersMs: number
  /** Keep-alive idle time for upstream sockets (default 4 s). */
  idleMs: number
  /** Time without body bytes in either direction (default 60 s). */
  bodyMs: number
  /** An upgraded connection idle in both directions this long is closed (default 1 h). */
  tunnelIdleMs: number
}

export interface PoolConfig {
  name: string
  algorithm: AlgorithmId
  /** Only for consistent-hash (default ip). */
  hashOn: HashOn
  backends: BackendConfig[]
  healthCheck: HealthCheckConfig
  outlierDetection: OutlierDetectionConfig
  circuitBreaker: CircuitBreakerConfig
  retries: RetryConfig
  timeouts: UpstreamTimeouts
  /** Ramp-up time for a recovered endpoint, ms (0 = off). */
  slowStartMs: number
  /** When fewer than this percent of the pool is ready, balance over all of it (0 = off). */
  panicThresholdPercent: number
  /** Session affinity (off when undefined). */
  stickySession?: StickySessionConfig | undefined
  /** TLS to `https://` backends (defaults apply when undefined: system CAs, verification on). */
  upstreamTls?: UpstreamTlsConfig | undefined
  /** Max keep-alive connections per endpoint per worker. */
  maxConnectionsPerEndpoint: number
  /** Protocol to the backends: `http1`, `h2c` (HTTP/2 prior knowledge) or `h2` (HTTP/2 over TLS, ALPN). */
  protocol: 'http1' | 'h2c' | 'h2'
  /** How often backend names are resolved again, ms (default 30 s; a shorter record TTL wins; >= 1 s). */
  dnsRefreshMs: number
  /** DNS servers (`IP` or `IP:port`) for backend names; empty = the system's. */
  dnsResolvers: string[]
}

/**
 * Session affinity of a pool. `cookie`: the balancer sets a cookie naming the chosen endpoint by an
 * HMAC tag under `secret` (resolved at load: the file, else env `LB_STICKY_SECRET`, else random per
 * primary process). `header`: consistent hash on that request header over the ready endpoints.
 */
export type StickySessionConfig =
  | { kind: 'cookie'; cookie: string; ttlMs: number; secret: string }
  | { kind: 'header'; header: string }

/** TLS settings towards `https://` backends. File paths are absolute after load. */
export interface UpstreamTlsConfig {
  /** CA bundle (PEM file) replacing the system CAs. */
  ca?: string | undefined
  /** Client certificate and key (PEM files) for mTLS; both or neither. */
  cert?: string | undefined
  key?: string | undefined
  /** SNI and certificate name; default: the backend url's host. */
  serverName?: string | undefined
  /** Verify the backend certificate (default true). */
  verify: boolean
}

export interface HeaderEdits {
  /** Set (replace) these headers. */
  set: Record<string, string>
  /** Append these headers. */
  add: Record<string, string>
  /** Remove these headers (lower case). */
  remove: string[]
}

export interface RouteMatch {
  /** Exact host names or `*.suffix` wildcards, lower case, without port. */
  hosts?: string[] | undefined
  pathPrefix?: string | undefined
  pathRegex?: string | undefined
  methods?: string[] | undefined
  /** Header name (lower case) -> exact value, or `*` for "present". */
  headers?: Record<string, string> | undefined
}

export interface RateLimitConfig {
  /** Tokens per second. */
  ratePerSecond: number
  burst: number
  key: HashOn
  scope: 'local' | 'global'
}

export interface RouteConfig {
  name: string
  match: RouteMatch
  pool: string
  rewrite?: { stripPrefix?: string | undefined; replacePath?: { pattern: string; replacement: string } | undefined } | undefined
  requestHeaders: HeaderEdits
  responseHeaders: HeaderEdits
  rateLimit?: RateLimitConfig | undefined
}
