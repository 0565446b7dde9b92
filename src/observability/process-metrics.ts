/**
 * Node.js process metrics of one process (a proxy worker or the primary), every series labelled
 * `worker`: prom-client's default metrics (memory, CPU, handles, heap, GC, file descriptors) and the
 * event-loop delay.
 *
 * Why the event-loop gauges are replaced: prom-client resets its delay histogram on every collection,
 * and the primary collects every worker once a second for the dashboard besides each Prometheus scrape.
 * Two collections a few milliseconds apart found an empty histogram and rendered `NaN` (as `Nan`, which a
 * strict parser refuses) and a minimum of 9.2e9 s. Here the histogram is read over windows of at least
 * {@link LAG_WINDOW_MS}: a collection inside a window shows the last completed one, never an empty one.
 *
 * `process_open_fds` is replaced too: prom-client lists `/proc/self/fd` synchronously on every
 * collection, which in a worker holding thousands of client and backend sockets would stall the proxy's
 * event loop once a second (the dashboard's collection). Here the list is read asynchronously, at most
 * once per {@link LAG_WINDOW_MS}.
 */
import { readdir } from 'node:fs/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client'

/** Shortest span the event-loop delay percentiles describe, ms. */
export const LAG_WINDOW_MS = 10_000

/** Sampling period of the event-loop delay histogram, ms (prom-client's default). */
const LAG_RESOLUTION_MS = 10

const LAG_GAUGES = {
  min: ['nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.'],
  max: ['nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.'],
  mean: ['nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.'],
  stddev: ['nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.'],
  p50: ['nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.'],
  p90: ['nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.'],
  p99: ['nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.'],
} as const

type LagKey = keyof typeof LAG_GAUGES

/**
 * Adds the process metrics of this process to `registry`, labelled `worker="<worker>"`.
 * `process_start_time_seconds` is kept through the primary's aggregation (prom-client marks it to be
 * omitted; here every process has its own label set, so nothing is merged).
 * @returns a function that stops the event-loop delay sampling (the registry keeps its last values).
 */
export function collectProcessMetrics(registry: Registry, worker: string): () => void {
  // prom-client's own delay histogram is replaced below; a coarse resolution keeps its timer idle.
  collectDefaultMetrics({ register: registry, labels: { worker }, eventLoopMonitoringPrecision: 1000 })
  const start = registry.getSingleMetric('process_start_time_seconds') as { aggregator?: string } | undefined
  if (start !== undefined) start.aggregator = 'first'
  registry.removeSingleMetric('nodejs_eventloop_lag_seconds')
  for (const [name] of Object.values(LAG_GAUGES)) registry.removeSingleMetric(name)
  const stop = registerEventLoopMetrics(registry, worker)
  if (registry.getSingleMetric('process_open_fds') !== undefined) {
    registry.removeSingleMetric('process_open_fds')
    registerOpenFds(registry, worker)
  }
  return stop
}

function registerOpenFds(registry: Registry, worker: string): void {
  let readAt = Number.NEGATIVE_INFINITY
  let reading: Promise<void> | undefined
  new Gauge({
    name: 'process_open_fds',
    help: `Number of open file descriptors (read at most every ${LAG_WINDOW_MS / 1000} s).`,
    labelNames: ['worker'],
    registers: [registry],
    async collect() {
      if (reading === undefined && performance.now() - readAt >= LAG_WINDOW_MS) {
        reading = readdir('/proc/self/fd').then(
          (fds) => {
            // Minus the descriptor readdir itself had open.
            this.set({ worker }, Math.max(0, fds.length - 1))
            readAt = performance.now()
          },
          () => undefined,
        ).finally(() => (reading = undefined))
      }
      await reading
    },
  })
}

function registerEventLoopMetrics(registry: Registry, worker: string): () => void {
  const labels = { worker }
  const histogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  histogram.enable()
  let windowStart = performance.now()
  let last: Record<LagKey, number> | undefined
  const read = (): Record<LagKey, number> | undefined => {
    const now = performance.now()
    if (histogram.count > 0 && (last === undefined || now - windowStart >= LAG_WINDOW_MS)) {
      const s = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0)
      last = {
        min: s(histogram.min),
        max: s(histogram.max),
        mean: s(histogram.mean),
        stddev: s(histogram.stddev),
        p50: s(histogram.percentile(50)),
        p90: s(histogram.percentile(90)),
        p99: s(histogram.percentile(99)),
      }
      histogram.reset()
      windowStart = now
    }
    return last
  }
  for (const [key, [name, help]] of Object.entries(LAG_GAUGES) as Array<[LagKey, readonly [string, string]]>) {
    new Gauge({
      name,
      help: `${help} Over the last window of at least ${LAG_WINDOW_MS / 1000} s.`,
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        const values = read()
        if (values !== undefined) this.set(labels, values[key])
      },
    })
  }
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds: how long a callback queued now waits to run.',
    labelNames: ['worker'],
    registers: [registry],
    async collect() {
      const started = process.hrtime.bigint()
      await new Promise<void>((resolve) => setImmediate(resolve))
      this.set(labels, Number(process.hrtime.bigint() - started) / 1e9)
    },
  })
  return () => histogram.disable()
}
