/**
 * Metrics the primary owns: the shared endpoint state (health, ejection, drain, weight: one value per
 * instance, so not summed over workers), active probe results (probes run in the primary only),
 * DNS lookups of discovered backends, worker count, state store status and build info. None of these names is recorded by the workers.
 */
import diagnostics from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { Counter, Gauge, Registry } from 'prom-client'
import { CHANNELS, type DnsEvent, type ProbeEvent } from '../core/index.js'
import { collectProcessMetrics } from './process-metrics.js'

/** The endpoint facts the primary gauges read at scrape time (the shape of `cluster/`'s `PoolView`). */
export interface EndpointStateSource {
  name: string
  endpoints: ReadonlyArray<{ id: string; healthy: boolean; ejected: boolean; drained: boolean; weight: number }>
}

/** Options of {@link PrimaryMetrics}. */
export interface PrimaryMetricsOptions {
  pools: () => readonly EndpointStateSource[]
  /** Live proxy workers. */
  workers: () => number
  /** True while the state store answers (the embedded memory store always does). */
  stateStoreUp?: () => boolean
}

let http1ListenerLabel = 'unknown'

/**
 * Names the HTTP/1.1 listener for the `listener` label of `lb_build_info` (`own` or `node`); the composition
 * root decides it at start-up (the server layer sits above this one).
 */
export function setHttp1ListenerLabel(name: string): void {
  http1ListenerLabel = name
}

/** The balancer's version, from package.json (read once; `unknown` when missing). */
export function buildVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

/** The primary's registry; subscribes to the probe channel until {@link PrimaryMetrics.close}. */
export class PrimaryMetrics {
  readonly registry = new Registry()
  /**
   * The primary's own Node.js process metrics (`worker="primary"`). Kept apart from {@link registry}:
   * the workers export the same names, so these are merged with the workers' before rendering.
   */
  readonly processRegistry = new Registry()
  private readonly stopProcessMetrics: () => void
  private readonly probes: Counter<'pool' | 'endpoint' | 'result'>
  private readonly onProbe = (m: unknown): void => {
    const e = m as ProbeEvent
    this.probes.inc({ pool: e.pool, endpoint: e.endpoint, result: e.result })
  }
  private readonly dnsLookups: Counter<'pool' | 'result'>
  private readonly onDns = (m: unknown): void => {
    const e = m as DnsEvent
    this.dnsLookups.inc({ pool: e.pool, result: e.result })
  }

  constructor(options: PrimaryMetricsOptions) {
    const registers = [this.registry]
    this.stopProcessMetrics = collectProcessMetrics(this.processRegistry, 'primary')
    const gauge = (name: string, help: string, value: (e: EndpointStateSource['endpoints'][number]) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['pool', 'endpoint'],
        registers,
        collect() {
          this.reset()
          for (const p of options.pools()) for (const e of p.endpoints) this.set({ pool: p.name, endpoint: e.id }, value(e))
        },
      })
    }
    gauge('lb_endpoint_up', 'Active health: 1 healthy, 0 unhealthy.', (e) => (e.healthy ? 1 : 0))
    gauge('lb_endpoint_ejected', 'Passive health: 1 while ejected by outlier detection.', (e) => (e.ejected ? 1 : 0))
    gauge('lb_endpoint_draining', 'Operator state: 1 while drained (no new requests).', (e) => (e.drained ? 1 : 0))
    gauge('lb_endpoint_weight', 'Configured (or operator-set) weight.', (e) => e.weight)
    this.probes = new Counter({
      name: 'lb_health_checks_total',
      help: 'Active health probes, by result (success, failure).',
      labelNames: ['pool', 'endpoint', 'result'],
      registers,
    })
    this.dnsLookups = new Counter({
      name: 'lb_dns_lookups_total',
      help: 'DNS lookups of discovered backend names (run by the instance that resolves for the pool), by result (success, failure).',
      labelNames: ['pool', 'result'],
      registers,
    })
    new Gauge({
      name: 'lb_workers',
      help: 'Live proxy worker processes.',
      registers,
      collect() {
        this.set(options.workers())
      },
    })
    new Gauge({
      name: 'lb_state_store_up',
      help: 'State store reachable: 1 yes, 0 no (the embedded memory store is always up).',
      registers,
      collect() {
        this.set(options.stateStoreUp?.() === false ? 0 : 1)
      },
    })
    new Gauge({
      name: 'lb_build_info',
      help: 'Build information (value always 1); `listener`: the HTTP/1.1 code serving (own or node).',
      labelNames: ['version', 'node', 'listener'],
      registers,
      collect() {
        this.reset()
        this.set({ version: buildVersion(), node: process.version, listener: http1ListenerLabel }, 1)
      },
    })
    diagnostics.subscribe(CHANNELS.probe, this.onProbe)
    diagnostics.subscribe(CHANNELS.dns, this.onDns)
  }

  /** Stops counting probes and sampling the event-loop delay. */
  close(): void {
    diagnostics.unsubscribe(CHANNELS.probe, this.onProbe)
    diagnostics.unsubscribe(CHANNELS.dns, this.onDns)
    this.stopProcessMetrics()
  }
}
