/**
 * The `lb_` metric families the balancer registers, read from the registries of a worker's and the
 * primary's metrics (never a hand-written list, which drifts when a metric is added).
 */
import { PrimaryMetrics, WorkerMetrics } from '../../src/observability/index.js'

/** Every `lb_` family name a worker or the primary exposes, sorted. */
export function lbMetricFamilies(): string[] {
  const worker = new WorkerMetrics(() => [])
  const primary = new PrimaryMetrics({ pools: () => [], workers: () => 0 })
  try {
    const names = [...worker.registry.getMetricsAsArray(), ...primary.registry.getMetricsAsArray()].map((m) => m.name)
    return [...new Set(names.filter((n) => n.startsWith('lb_')))].sort()
  } finally {
    worker.close()
    primary.close()
  }
}
