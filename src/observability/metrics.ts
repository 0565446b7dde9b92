/**
 * Prometheus metrics of one proxy worker (`prom-client`), recorded from the diagnostics channels of
 * `core/events.ts`. The primary gathers every worker's registry and sums it (see `cluster-metrics.ts`),
 * and adds its own endpoint gauges (see `primary-metrics.ts`); the two sets never share a name.
 *
 * Hot path: one `lb:request` event costs a few Map lookups to cached cells and three increments
 * (`metric-cells.ts`); no string is built here per request (the label values are built once, when a
 * pool/endpoint/method/status combination is first seen).
 */
import diagnostics from 'node:diagnostics_channel'
import { Counter, Gauge, Registry } from 'prom-client'
import { CHANNELS, type RequestEvent, type RetryEvent, type UpstreamErrorEvent, type WebSocketEvent } from '../core/index.js'
import { CellCounter, CellHistogram, type CounterCell, type HistogramCell } from './metric-cells.js'

/** Request duration buckets, seconds: 0.5 ms to 10 s, suited to a proxy. */
export const DURATION_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Methods kept as a label value; anything else is counted as `OTHER` (clients choose methods: bounded cardinality). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'])

/** What the worker metrics read from a pool at scrape time (structural: `upstream/` is a layer above). */
export interface PoolMetricsSource {
  readonly name: string
  readonly retryBudget: { readonly exhausted: number }
  snapshot(): ReadonlyArray<{ id: string; inFlight: number; circuit: 'closed' | 'open' | 'half-open' }>
}

/** Numeric value of a circuit state in `lb_circuit_state`. */
export const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const

/**
 * The worker's metrics: owns a registry, subscribes to the channels on construction and unsubscribes
 * on {@link WorkerMetrics.close}. `pools` is read only when scraped (in-flight, circuit, retry budget).
 */
export class WorkerMetrics {
  readonly registry = new Registry()
  private readonly requests: CellCounter
  private readonly duration: CellHistogram
  private readonly upstreamErrors: Counter<'pool' | 'endpoint' | 'kind'>
  private readonly retries: Counter<'pool' | 'reason'>
  private readonly rateLimited: Counter<'route'>
  private readonly websockets: Gauge<'pool' | 'endpoint'>
  /** pool -> endpoint -> method -> status -> cell */
  private readonly requestChildren = new Map<string, Map<string, Map<string, Map<number, CounterCell>>>>()
  /** pool -> endpoint -> cell */
  private readonly durationChildren = new Map<string, Map<string, HistogramCell>>()
  private readonly subscriptions: Array<[string, (m: unknown) => void]> = []

  constructor(pools: () => Iterable<PoolMetricsSource>) {
    const registers = [this.registry]
    this.requests = new CellCounter(
      'lb_requests_total',
      'Proxied requests (never health probes), by pool, endpoint (last one tried), method and status code.',
      this.registry,
    )
    this.duration = new CellHistogram(
      'lb_request_duration_seconds',
      'Whole request duration as the client sees it (arrival to last byte), seconds.',
      this.registry,
      DURATION_BUCKETS_SECONDS,
    )
    this.upstreamErrors = new Counter({
      name: 'lb_upstream_errors_total',
      help: 'Failed tries to a backend, by kind: connect, reset, timeout, protocol, upstream-tls.',
      labelNames: ['pool', 'endpoint', 'kind'],
      registers,
    })
    this.retries = new Counter({ name: 'lb_retries_total', help: 'Retries granted, by reason.', labelNames: ['pool', 'reason'], registers })
    this.rateLimited = new Counter({ name: 'lb_rate_limited_total', help: 'Requests refused by a rate limit (429), by route.', labelNames: ['route'], registers })
    this.websockets = new Gauge({ name: 'lb_websocket_connections', help: 'Open WebSocket (Upgrade) tunnels.', labelNames: ['pool', 'endpoint'], registers })
    const exhaustedSeen = new WeakMap<PoolMetricsSource, number>()
    new Counter({
      name: 'lb_retry_budget_exhausted_total',
      help: 'Retries refused because the pool retry budget was spent.',
      labelNames: ['pool'],
      registers,
      collect() {
        for (const p of pools()) {
          const now = p.retryBudget.exhausted
          const delta = now - (exhaustedSeen.get(p) ?? 0)
          exhaustedSeen.set(p, now)
          // Touch every pool so the series exists (at 0) before the first refusal.
          this.inc({ pool: p.name }, Math.max(0, delta))
        }
      },
    })
    new Gauge({
      name: 'lb_inflight_requests',
      help: 'Requests being proxied right now, by pool and endpoint.',
      labelNames: ['pool', 'endpoint'],
      registers,
      collect() {
        this.reset()
        for (const p of pools()) for (const e of p.snapshot()) this.set({ pool: p.name, endpoint: e.id }, e.inFlight)
      },
    })
    new Gauge({
      name: 'lb_circuit_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open (worst over the workers).',
      labelNames: ['pool', 'endpoint'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset()
        for (const p of pools()) for (const e of p.snapshot()) this.set({ pool: p.name, endpoint: e.id }, CIRCUIT_STATE_VALUE[e.circuit])
      },
    })
    this.subscribe(CHANNELS.request, (m) => this.onRequest(m as RequestEvent))
    this.subscribe(CHANNELS.upstreamError, (m) => {
      const e = m as UpstreamErrorEvent
      this.upstreamErrors.inc({ pool: e.pool, endpoint: e.endpoint, kind: e.kind })
    })
    this.subscribe(CHANNELS.retry, (m) => {
      const e = m as RetryEvent
      this.retries.inc({ pool: e.pool, reason: e.reason })
    })
    this.subscribe(CHANNELS.websocket, (m) => {
      const e = m as WebSocketEvent
      this.websockets.inc({ pool: e.pool, endpoint: e.endpoint }, e.open ? 1 : -1)
    })
  }

  /** Unsubscribes from every channel (the registry keeps its values). */
  close(): void {
    for (const [name, fn] of this.subscriptions) diagnostics.unsubscribe(name, fn)
    this.subscriptions.length = 0
  }

  private subscribe(name: string, fn: (m: unknown) => void): void {
    diagnostics.subscribe(name, fn)
    this.subscriptions.push([name, fn])
  }

  private onRequest(e: RequestEvent): void {
    this.requestChild(e.pool, e.endpoint, e.method, e.status).value++
    this.duration.observe(this.durationChild(e.pool, e.endpoint), e.durationMs / 1000)
    if (e.error === 'LB_ERR_RATE_LIMITED') this.rateLimited.inc({ route: e.route })
  }

  private requestChild(pool: string, endpoint: string, method: string, status: number): CounterCell {
    let byEndpoint = this.requestChildren.get(pool)
    if (byEndpoint === undefined) this.requestChildren.set(pool, (byEndpoint = new Map()))
    let byMethod = byEndpoint.get(endpoint)
    if (byMethod === undefined) byEndpoint.set(endpoint, (byMethod = new Map()))
    let byStatus = byMethod.get(method)
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()))
    let child = byStatus.get(status)
    if (child === undefined) {
      const m = KNOWN_METHODS.has(method) ? method : 'OTHER'
      child = this.requests.cell({ pool, endpoint, method: m, code: String(status) })
      byStatus.set(status, child)
    }
    return child
  }

  private durationChild(pool: string, endpoint: string): HistogramCell {
    let byEndpoint = this.durationChildren.get(pool)
    if (byEndpoint === undefined) this.durationChildren.set(pool, (byEndpoint = new Map()))
    let child = byEndpoint.get(endpoint)
    if (child === undefined) byEndpoint.set(endpoint, (child = this.duration.cell({ pool, endpoint })))
    return child
  }
}
