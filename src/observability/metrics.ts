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
import { collectProcessMetrics } from './process-metrics.js'

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

/**
 * A listener of the worker, read at scrape time: open connections (`net.Server#getConnections`, so the
 * count costs nothing per connection) and, for TLS, failed handshakes so far.
 */
export interface ListenerMetricsSource {
  /** `http` or `https`: the value of the `listener` label. */
  readonly name: string
  getConnections(callback: (err: Error | null, count: number) => void): void
  /** Failed TLS handshakes since start (TLS listeners only). */
  readonly tlsHandshakeErrors?: number
}

/** Options of {@link WorkerMetrics} beyond the pools. */
export interface WorkerMetricsOptions {
  /** The worker's listeners (read at scrape time). */
  listeners?: () => Iterable<ListenerMetricsSource>
  /**
   * Value of the `worker` label of the Node.js process metrics (`process_*`, `nodejs_*`, from
   * prom-client's default metrics); undefined = no process metrics (in-process proxies share a process).
   */
  worker?: string | undefined
}

/** `code_class` label values by `Math.floor(status / 100)`; statuses outside 100-599 are `other`. */
const CODE_CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const

/** Histogram cells of one pool/endpoint: request duration by code class, upstream header time, pool byte counters. */
interface EndpointCells {
  readonly byClass: Array<HistogramCell | undefined>
  readonly upstream: HistogramCell
  readonly bytesIn: CounterCell
  readonly bytesOut: CounterCell
}

/** Numeric value of a circuit state in `lb_circuit_state`. */
export const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const

/**
 * The worker's metrics: owns a registry, subscribes to the channels on construction and unsubscribes
 * on {@link WorkerMetrics.close}. `pools` is read only when scraped (in-flight, circuit, retry budget).
 */
export class WorkerMetrics {
  readonly registry = new Registry()
  /** `lb_requests_total` (read by the dashboard totals too). */
  readonly requests: CellCounter
  /** `lb_request_duration_seconds` (read by the dashboard totals too). */
  readonly duration: CellHistogram
  private readonly upstreamDuration: CellHistogram
  private readonly bytesReceived: CellCounter
  private readonly paths: CellCounter
  private readonly fastCell: CounterCell
  private readonly generalCell: CounterCell
  private readonly bytesSent: CellCounter
  private readonly upstreamErrors: Counter<'pool' | 'endpoint' | 'kind'>
  private readonly retries: Counter<'pool' | 'reason'>
  /** `lb_rate_limited_total` (read by the dashboard totals too). */
  readonly rateLimited: Counter<'route'>
  /** `lb_websocket_connections` (read by the dashboard totals too). */
  readonly websockets: Gauge<'pool' | 'endpoint'>
  /** The pools, as given to the constructor (read when scraped). */
  readonly pools: () => Iterable<PoolMetricsSource>
  /** pool -> endpoint -> method -> status -> cell */
  private readonly requestChildren = new Map<string, Map<string, Map<string, Map<number, CounterCell>>>>()
  /** pool -> endpoint -> cells */
  private readonly endpointChildren = new Map<string, Map<string, EndpointCells>>()
  private readonly subscriptions: Array<[string, (m: unknown) => void]> = []
  private stopProcessMetrics: () => void = () => undefined

  constructor(pools: () => Iterable<PoolMetricsSource>, options: WorkerMetricsOptions = {}) {
    this.pools = pools
    const registers = [this.registry]
    if (options.worker !== undefined) this.stopProcessMetrics = collectProcessMetrics(this.registry, options.worker)
    this.requests = new CellCounter(
      'lb_requests_total',
      'Proxied requests (never health probes), by pool, endpoint (last one tried), method and status code.',
      this.registry,
    )
    this.duration = new CellHistogram(
      'lb_request_duration_seconds',
      'Whole request duration as the client sees it (arrival to last byte), seconds, by pool, endpoint and code_class (2xx, 5xx, ...).',
      this.registry,
      DURATION_BUCKETS_SECONDS,
    )
    this.upstreamDuration = new CellHistogram(
      'lb_upstream_header_duration_seconds',
      'Time from sending the last try to a backend to its response headers, seconds, by pool and endpoint.',
      this.registry,
      DURATION_BUCKETS_SECONDS,
    )
    this.paths = new CellCounter(
      'lb_requests_path_total',
      'Proxied requests by the path their last try took to the backend: fast (own HTTP/1.1 connections) or general (undici); requests answered by the balancer itself are not counted.',
      this.registry,
    )
    this.fastCell = this.paths.cell({ path: 'fast' })
    this.generalCell = this.paths.cell({ path: 'general' })
    this.bytesReceived = new CellCounter('lb_bytes_received_total', 'Request body bytes received from clients, by pool.', this.registry)
    this.bytesSent = new CellCounter('lb_bytes_sent_total', 'Response body bytes sent to clients, by pool.', this.registry)
    const listeners = options.listeners ?? (() => [])
    new Gauge({
      name: 'lb_connections_open',
      help: 'Open client connections, by listener (http, https).',
      labelNames: ['listener'],
      registers,
      async collect() {
        this.reset()
        await Promise.all(
          [...listeners()].map(
            (l) =>
              new Promise<void>((resolve) => {
                l.getConnections((err, n) => {
                  if (err === null) this.inc({ listener: l.name }, n)
                  resolve()
                })
              }),
          ),
        )
      },
    })
    const handshakeErrorsSeen = new WeakMap<ListenerMetricsSource, number>()
    new Counter({
      name: 'lb_tls_handshake_errors_total',
      help: 'TLS handshakes that failed (protocol or cipher mismatch, bad client hello, timeout), by listener.',
      labelNames: ['listener'],
      registers,
      collect() {
        for (const l of listeners()) {
          if (l.tlsHandshakeErrors === undefined) continue
          const delta = l.tlsHandshakeErrors - (handshakeErrorsSeen.get(l) ?? 0)
          handshakeErrorsSeen.set(l, l.tlsHandshakeErrors)
          this.inc({ listener: l.name }, Math.max(0, delta))
        }
      },
    })
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
    this.stopProcessMetrics()
  }

  private subscribe(name: string, fn: (m: unknown) => void): void {
    diagnostics.subscribe(name, fn)
    this.subscriptions.push([name, fn])
  }

  private onRequest(e: RequestEvent): void {
    this.requestChild(e.pool, e.endpoint, e.method, e.status).value++
    const cells = this.endpointCells(e.pool, e.endpoint)
    const cls = e.status >= 100 && e.status < 600 ? Math.floor(e.status / 100) : 0
    const byClass = cells.byClass[cls] ?? this.classCell(cells, e.pool, e.endpoint, cls)
    this.duration.observe(byClass, e.durationMs / 1000)
    if (e.upstreamMs >= 0) this.upstreamDuration.observe(cells.upstream, e.upstreamMs / 1000)
    cells.bytesIn.value += e.bytesIn
    cells.bytesOut.value += e.bytesOut
    if (e.error === 'LB_ERR_RATE_LIMITED') this.rateLimited.inc({ route: e.route })
    if (e.forwardPath !== undefined) (e.forwardPath === 'fast' ? this.fastCell : this.generalCell).value++
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

  private endpointCells(pool: string, endpoint: string): EndpointCells {
    let byEndpoint = this.endpointChildren.get(pool)
    if (byEndpoint === undefined) this.endpointChildren.set(pool, (byEndpoint = new Map()))
    let cells = byEndpoint.get(endpoint)
    if (cells === undefined) {
      cells = {
        byClass: new Array<HistogramCell | undefined>(CODE_CLASSES.length).fill(undefined),
        upstream: this.upstreamDuration.cell({ pool, endpoint }),
        // One pair per pool: cell() returns the same cell for the same labels.
        bytesIn: this.bytesReceived.cell({ pool }),
        bytesOut: this.bytesSent.cell({ pool }),
      }
      byEndpoint.set(endpoint, cells)
    }
    return cells
  }

  /** Created on the first request of a class: a series exists only for classes that were seen. */
  private classCell(cells: EndpointCells, pool: string, endpoint: string, cls: number): HistogramCell {
    const cell = this.duration.cell({ pool, endpoint, code_class: CODE_CLASSES[cls] ?? 'other' })
    cells.byClass[cls] = cell
    return cell
  }
}
