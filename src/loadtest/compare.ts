/**
 * `lb bench --compare`: the same scenario (purpose-built backends with given latencies, one of them
 * degrading mid-run) and the same load, once per algorithm, each time with a fresh balancer and fresh
 * backends, so no run inherits another's connections, EWMA estimates or queues. Each run starts with an
 * unmeasured warm-up (default 1 s) so that the table shows the steady state, not the first second in which
 * EWMA knows nothing yet; the degrading backend's clock starts after it.
 */
import type { AlgorithmId } from '../core/index.js'
import { startLocalStack, type StartBalancer } from './local-stack.js'
import type { ComparedRun } from './report.js'
import { runLoad, type LoadOptions, type LoadProgress } from './run-load.js'
import type { ScenarioBackendSpec } from './scenario-backend.js'

/** Options of {@link runComparison}. */
export interface CompareOptions {
  /** Starts each run's balancer (app.ts `startBalancer`). */
  startBalancer: StartBalancer
  algorithms: readonly AlgorithmId[]
  backends: readonly ScenarioBackendSpec[]
  /** The load of every run; `url` is filled in per run. */
  load: Omit<LoadOptions, 'url'>
  /** Path requested through the balancer (default `/`). */
  path: string
  workers: number
  /** The balancers' log level (`silent` for --json). */
  logLevel?: 'warn' | 'error' | 'silent'
  /** Unmeasured load before each measured run, ms (lets EWMA estimates and queues settle). */
  warmupMs: number
  /** Called before each run with a progress callback for it. */
  onRunStart?: (algorithm: AlgorithmId) => ((p: LoadProgress) => void) | undefined
  onRunEnd?: (algorithm: AlgorithmId) => void
}

/** Runs the scenario under each algorithm in turn and returns the runs in the same order. */
export async function runComparison(options: CompareOptions): Promise<ComparedRun[]> {
  const runs: ComparedRun[] = []
  for (const algorithm of options.algorithms) {
    const stack = await startLocalStack({ startBalancer: options.startBalancer, backends: { kind: 'scenario', specs: options.backends }, algorithm, workers: options.workers, logLevel: options.logLevel })
    try {
      const url = `${stack.url}${options.path}`
      if (options.warmupMs > 0) await runLoad({ ...options.load, url, durationMs: options.warmupMs, requests: undefined })
      // Restart every backend's scenario clock now, so "degrades after N s" counts from the load's start.
      await Promise.all(stack.backends.map(async (b) => (await fetch(`${b.url}/_scenario/start`, { method: 'POST' })).arrayBuffer()))
      const onProgress = options.onRunStart?.(algorithm)
      const result = await runLoad({ ...options.load, url }, onProgress)
      options.onRunEnd?.(algorithm)
      runs.push({ algorithm, result })
    } finally {
      await stack.stop()
    }
  }
  return runs
}

/** `backend-2 (5 ms -> 50 ms at 5 s)`: how the report labels a scenario backend. */
export function describeScenarioBackend(spec: ScenarioBackendSpec): string {
  const d = spec.degrade
  const latency = d === undefined ? `${spec.latencyMs} ms` : `${spec.latencyMs}->${d.latencyMs} ms at ${(d.afterMs / 1000).toFixed(1)} s`
  return `${spec.name} (${latency}${spec.concurrency === 0 ? '' : `, ${spec.concurrency} at once`})`
}
