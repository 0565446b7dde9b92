// A node:cluster worker for cluster-metrics.test.ts: a registry shaped like a balancer worker's after
// traffic through ENDPOINTS endpoints (requests, duration histogram, in-flight and circuit gauges (the circuit of endpoint OPEN_CIRCUIT open), and a
// family the dashboard does not read), served to the primary as a worker serves it.
import { Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import { DURATION_BUCKETS_SECONDS } from '../../src/observability/metrics.js'
import { serveMetricsToPrimary } from '../../src/observability/cluster-metrics.js'
import { readCumulative, type Cumulative, type MetricsJson } from '../../src/observability/stats-totals.js'

/** The families the dashboard reads ({@link readCumulative}); the totals are read out of them. */
const DASHBOARD_FAMILIES = ['lb_requests_total', 'lb_request_duration_seconds', 'lb_inflight_requests', 'lb_circuit_state', 'lb_rate_limited_total', 'lb_websocket_connections']

/** This registry's dashboard totals: what a balancer worker computes from its metric cells instead. */
async function registryTotals(): Promise<Cumulative> {
  const json: MetricsJson = []
  for (const name of DASHBOARD_FAMILIES) {
    const metric = registry.getSingleMetric(name)
    if (metric !== undefined) json.push((await metric.get()) as MetricObjectWithValues<MetricValue<string>>)
  }
  return readCumulative([json])
}

const endpoints = Number(process.env.ENDPOINTS ?? 1000)
const registry = new Registry()
const registers = [registry]
const requests = new Counter({ name: 'lb_requests_total', help: 'h', labelNames: ['pool', 'endpoint', 'method', 'code'], registers })
const duration = new Histogram({ name: 'lb_request_duration_seconds', help: 'h', labelNames: ['pool', 'endpoint', 'code_class'], buckets: DURATION_BUCKETS_SECONDS, registers })
const upstream = new Histogram({ name: 'lb_upstream_header_duration_seconds', help: 'h', labelNames: ['pool', 'endpoint'], buckets: DURATION_BUCKETS_SECONDS, registers })
const inFlight = new Gauge({ name: 'lb_inflight_requests', help: 'h', labelNames: ['pool', 'endpoint'], registers })
const circuit = new Gauge({ name: 'lb_circuit_state', help: 'h', labelNames: ['pool', 'endpoint'], aggregator: 'max', registers })
for (let i = 0; i < endpoints; i++) {
  const endpoint = `e${i}@127.0.0.1:${8000 + (i % 3)}`
  requests.inc({ pool: 'bench', endpoint, method: 'GET', code: i % 10 === 0 ? '503' : '200' }, 1 + (i % 7))
  duration.observe({ pool: 'bench', endpoint, code_class: '2xx' }, 0.001 * (i % 20))
  upstream.observe({ pool: 'bench', endpoint }, 0.001)
  inFlight.set({ pool: 'bench', endpoint }, i % 2)
  circuit.set({ pool: 'bench', endpoint }, String(i) === process.env.OPEN_CIRCUIT ? 2 : 0)
}
serveMetricsToPrimary(registry, registryTotals)
process.send?.('metrics-worker:ready')
