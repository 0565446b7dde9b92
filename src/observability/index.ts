/**
 * Observability: Prometheus metrics (workers record, the primary sums), the access log and the
 * lifecycle/error log. Everything here subscribes to the channels of `core/events.ts`; nothing else does.
 */
import { startAccessLog, type AccessLog } from './access-log.js'
import { serveMetricsToPrimary } from './cluster-metrics.js'
import { workerTotals } from './worker-totals.js'
import { createLogger, logEvents, type LogLevel } from './logger.js'
import { WorkerMetrics, type ListenerMetricsSource, type PoolMetricsSource } from './metrics.js'

export {
  WorkerMetrics,
  DURATION_BUCKETS_SECONDS,
  CIRCUIT_STATE_VALUE,
  type PoolMetricsSource,
  type ListenerMetricsSource,
  type WorkerMetricsOptions,
} from './metrics.js'
export { collectProcessMetrics, LAG_WINDOW_MS } from './process-metrics.js'
export { ClusterMetricsCollector, serveMetricsToPrimary, type MetricsJson } from './cluster-metrics.js'
export { PrimaryMetrics, buildVersion, setHttp1ListenerLabel, type PrimaryMetricsOptions, type EndpointStateSource } from './primary-metrics.js'
export { readCumulative, type Cumulative } from './stats-totals.js'
export { InstanceStatsExchange, type InstanceStatsOptions, type StatsStore } from './instance-stats.js'
export { StatsTracker, quantileMs, HISTORY_POINTS, type DashboardSnapshot, type StatsPoint, type EndpointStats, type PoolStateSource } from './stats.js'
export { startAccessLog, type AccessLog, type AccessLogOptions } from './access-log.js'
export { createLogger, logEvents, PINO_BASE_OPTIONS, type LogLevel } from './logger.js'

/** What a worker's observability reads from its configuration (`log`). */
export interface WorkerObservabilityOptions {
  log: { level: LogLevel; accessLog: boolean; accessLogFile?: string | undefined; metrics?: boolean; format?: 'json' | 'pretty' }
  /** The worker's pools, read at scrape time (they change on reload). */
  pools: () => Iterable<PoolMetricsSource>
  /** The worker's listeners, read at scrape time (open connections, TLS handshake errors). */
  listeners?: () => Iterable<ListenerMetricsSource>
  /** `worker` label of the process metrics (the cluster worker id); undefined = none. */
  worker?: string | undefined
}

/** A worker's metrics, access log and event log; {@link WorkerObservability.close} before exiting. */
export interface WorkerObservability {
  /** Undefined when `log.metrics` is false. */
  readonly metrics: WorkerMetrics | undefined
  readonly accessLog: AccessLog | undefined
  /** Unsubscribes everything and flushes the logs. */
  close(): void
}

/**
 * Starts a proxy worker's observability: metrics recorded from the channels and served to the
 * primary on request, the access log (unless `log.accessLog` is false), and the event log.
 */
export function startWorkerObservability(options: WorkerObservabilityOptions): WorkerObservability {
  const metrics = options.log.metrics === false ? undefined : new WorkerMetrics(options.pools, { listeners: options.listeners, worker: options.worker })
  const stopServing = metrics === undefined ? () => undefined : serveMetricsToPrimary(metrics.registry, () => workerTotals(metrics))
  const accessLog = startAccessLog(options.log)
  const stopEvents = logEvents(createLogger(options.log.level, { worker: process.pid }, options.log.format))
  return {
    metrics,
    accessLog,
    close: () => {
      stopServing()
      metrics?.close()
      accessLog?.close()
      stopEvents()
    },
  }
}
