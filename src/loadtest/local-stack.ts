/**
 * The target `lb bench` builds for itself: backends as child processes and the real balancer
 * (`startBalancer`, the same code path as `lb start`) in front of them on a free 127.0.0.1 port.
 * The caller hands the balancer's start function in: loadtest/ sits below the composition root (app.ts)
 * and never imports it.
 */
import cluster from 'node:cluster'
import { createServer } from 'node:net'
import type { AlgorithmId } from '../core/index.js'
import { loadConfig, type LbConfig } from '../config/index.js'
import { scriptPath, spawnChildBackend, type ChildBackend } from './child-backend.js'
import type { ScenarioBackendSpec } from './scenario-backend.js'

/** A started balancer, as far as the bench needs it. */
export interface StartedBalancer {
  /** Drains and stops the balancer (primary and workers). */
  stop(): Promise<void>
}

/**
 * Starts the real balancer from a configuration: `startBalancer` from app.ts. `log` receives the primary's
 * own lines (state store, reloads).
 */
export type StartBalancer = (config: LbConfig, options: { log: (line: string) => void }) => Promise<StartedBalancer>

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Starts the balancer in front of the backends (app.ts `startBalancer`). */
  startBalancer: StartBalancer
  /** `sample`: the demo's sample backends (`backend-1..n`, `GET /api/test`); else purpose-built ones. */
  backends: { kind: 'sample'; count: number } | { kind: 'scenario'; specs: readonly ScenarioBackendSpec[] }
  algorithm: AlgorithmId
  /** Balancer worker processes (default 2). */
  workers?: number
  /**
   * The balancer's log level (default `warn`). The primary's event log writes to stdout (fd 1), so
   * `--json` runs use `silent` to keep stdout for the JSON document alone.
   */
  logLevel?: 'warn' | 'error' | 'silent'
}

/** A running local target. */
export interface LocalStack {
  /** The balancer's base URL, `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly backends: readonly ChildBackend[]
  /** Stops the balancer (drain), then the backends. Idempotent. */
  stop(): Promise<void>
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

let isWorkerOutputRedirected = false
const live = new Set<LocalStack>()

/** Stops every stack still running in this process (for SIGINT/SIGTERM). */
export async function stopAllLocalStacks(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()))
}

/**
 * Worker processes inherit stdout by default; the bench keeps stdout for its table or its JSON, so
 * everything a worker prints goes to stderr instead (`silent` forks, piped). Set once per process.
 */
function redirectWorkerOutput(): void {
  if (isWorkerOutputRedirected) return
  isWorkerOutputRedirected = true
  cluster.setupPrimary({ silent: true })
  cluster.on('fork', (worker) => {
    worker.process.stdout?.pipe(process.stderr, { end: false })
    worker.process.stderr?.pipe(process.stderr, { end: false })
  })
}

/** Starts the backends, then the balancer; waits until a request through it succeeds (at most 10 s). */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const backends: ChildBackend[] = []
  let balancer: StartedBalancer | undefined
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await balancer?.stop()
      await Promise.all(backends.map((b) => b.stop()))
      live.delete(stack)
    })()
    return stopped
  }
  const stack: { url: string; backends: ChildBackend[]; stop: () => Promise<void> } = { url: '', backends, stop }
  live.add(stack)
  try {
    const spec = options.backends
    const started =
      spec.kind === 'sample'
        ? Array.from({ length: spec.count }, (_, i) => spawnChildBackend(scriptPath('demo/backend-main'), `backend-${i + 1}`, ['--port', '0']))
        : spec.specs.map((s) =>
            spawnChildBackend(scriptPath('loadtest/scenario-backend-main'), s.name, [
              '--latency', String(s.latencyMs),
              '--concurrency', String(s.concurrency),
              ...(s.degrade === undefined ? [] : ['--degrade-after', String(s.degrade.afterMs), '--degrade-latency', String(s.degrade.latencyMs)]),
            ]),
          )
    const settled = await Promise.allSettled(started)
    for (const r of settled) if (r.status === 'fulfilled') backends.push(r.value)
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason

    const port = await freePort()
    let adminPort = await freePort()
    while (adminPort === port) adminPort = await freePort() // the OS may hand the same free port out twice
    const workers = options.workers ?? 2
    const config = await loadConfig({
      inline: {
        listen: { host: '127.0.0.1', port },
        workers,
        // The admin server (when present) must not collide with a running `lb demo` on 9901.
        admin: { host: '127.0.0.1', port: adminPort },
        log: { level: options.logLevel ?? 'warn', accessLog: false },
        pools: {
          bench: {
            algorithm: options.algorithm,
            backends: backends.map((b) => ({ id: b.name, url: b.url })),
            healthCheck: { path: spec.kind === 'sample' ? '/api/health' : '/health', interval: '2s' },
            // Each run ends by closing its connections mid-request, and the balancer may count those aborts
            // as upstream failures; passive ejection and the error-rate breaker would then punish a backend
            // for the bench's own stop (and a warm-up's). Off here, so the table shows the algorithm alone.
            outlierDetection: { enabled: false },
            circuitBreaker: { errorRatePercent: 100, minRequests: 1_000_000 },
          },
        },
      },
      flags: { port, workers },
    })
    redirectWorkerOutput()
    // The primary's own lines (state store, reloads) go to stderr with the progress, never to stdout.
    balancer = await options.startBalancer(config, { log: (line) => process.stderr.write(`${line}\n`) })
    const url = `http://127.0.0.1:${port}`
    await waitUntilServing(`${url}${spec.kind === 'sample' ? '/api/health' : '/health'}`, 10_000)
    stack.url = url
    return stack
  } catch (err) {
    await stop()
    throw err
  }
}

/** Polls `url` until it answers 200 (every 100 ms), or throws after `timeoutMs`. */
async function waitUntilServing(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (err) {
      last = (err as Error).message
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`the balancer at ${url} did not serve within ${timeoutMs} ms (${last})`)
}
