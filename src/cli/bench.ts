import { ConfigError } from '../config/index.js'
import { startBalancer } from '../app.js'
import {
  ProgressReporter,
  describeScenarioBackend,
  formatComparison,
  formatResult,
  loadGenerator,
  LoadGeneratorMissingError,
  parseBenchArgs,
  resultJson,
  runComparison,
  runLoad,
  startLocalStack,
  stopAllLocalStacks,
  DEFAULT_BACKEND_CONCURRENCY,
  DEFAULT_DEGRADE,
  DEFAULT_LATENCIES,
  type BenchOptions,
  type LoadOptions,
  type LoadProgress,
  type LocalStack,
} from '../loadtest/index.js'

const HELP = `Usage: lb bench [--target URL] [--connections N] [--duration 10s | --requests N] [options]
       lb bench --compare round-robin,p2c,ewma [--latencies ${DEFAULT_LATENCIES}] [--degrade ${DEFAULT_DEGRADE}]

Load-tests an HTTP target with keep-alive connections (autocannon), shows live progress on stderr and
prints a table (requests/s, latency p50/p90/p99/max, errors, status codes, answers per x-backend).
Without --target it starts three sample backends and the balancer (2 workers, a free port) itself.

Load:
  --target URL           URL to load (default: a balancer the bench starts, path --path)
  -c, --connections N    concurrent connections (default 32)
  -d, --duration D       run time, e.g. 10s, 1m (default 10s)
  -n, --requests N       stop after N answers instead (overrides --duration)
  -r, --rate N           cap at N requests/s overall (closed loop: needs enough connections)
  -m, --method M         HTTP method (default GET)
  -b, --body TEXT        request body; @FILE reads a file
  -H, --header K:V       request header (repeatable)
  --timeout D            per-request timeout, counted as an error (default 10s)
  --warmup D             unmeasured load first (default 0; 1s with --compare)
  --json                 print one JSON object on stdout, nothing else (progress stays on stderr)

Self-started target:
  --path P               path to request (default /api/test; / with --compare)
  --workers N            balancer workers (default 2)

Comparing algorithms (--compare A,B,...): one fresh scenario per algorithm, same load, side by side.
  --latencies L,L,...    latency of backend-1, backend-2, ... (default ${DEFAULT_LATENCIES});
                         L/N also limits that backend to N requests at once (e.g. 80ms/2)
  --degrade N:LAT[@T]    backend N switches to latency LAT after T (default ${DEFAULT_DEGRADE}, T = half the run); none = off
  --backend-concurrency N  requests each backend serves at once, the rest queue (default ${DEFAULT_BACKEND_CONCURRENCY}; 0 = unlimited)

Needs the load generator autocannon, a development dependency: in a production install (npm ci --omit=dev,
the Docker image) run 'npm install autocannon' first.

Exit code 0, or 1 on bad arguments, a missing load generator, or when no request was answered. See docs/bench.md.`

/** `lb bench`: the built-in load tester (load, progress, a results table; algorithm comparison). */
export async function run(argv: string[]): Promise<number> {
  let options: BenchOptions
  try {
    options = parseBenchArgs(argv)
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`lb bench: ${p}`)
      console.error("Run 'lb bench --help' for the options.")
      return 1
    }
    throw err
  }
  if (options.help) {
    console.log(HELP)
    return 0
  }
  // Before any backend or balancer is started: a production install has no load generator.
  try {
    await loadGenerator()
  } catch (err) {
    if (err instanceof LoadGeneratorMissingError) {
      console.error(`lb bench: ${err.message}`)
      return 1
    }
    throw err
  }
  return options.compare === undefined ? runSingle(options) : runCompare(options, options.compare)
}

function loadOptions(options: BenchOptions): Omit<LoadOptions, 'url'> {
  return {
    connections: options.connections,
    durationMs: options.durationMs,
    requests: options.requests,
    rate: options.rate,
    method: options.method,
    body: options.body,
    headers: options.headers,
    timeoutMs: options.timeoutMs,
  }
}

function progress(options: BenchOptions, label: string): ProgressReporter {
  return new ProgressReporter({
    stream: process.stderr,
    label,
    totalMs: options.requests === undefined ? options.durationMs : undefined,
    totalRequests: options.requests,
  })
}

/** On SIGINT/SIGTERM, stops every backend and balancer the bench started, then exits 130. */
function stopOnSignal(): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`lb bench: ${signal}: stopping`)
    void stopAllLocalStacks().finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function runSingle(options: BenchOptions): Promise<number> {
  let stack: LocalStack | undefined
  let url = options.target
  if (url === undefined) {
    console.error('lb bench: no --target: starting 3 sample backends and the balancer (round robin, 2 workers)')
    stack = await startLocalStack({ startBalancer, backends: { kind: 'sample', count: 3 }, algorithm: 'round-robin', workers: options.workers, logLevel: options.json ? 'silent' : 'warn' })
    url = `${stack.url}${options.path}`
    console.error(`lb bench: balancer on ${stack.url}, backends ${stack.backends.map((b) => b.url).join(', ')}`)
  }
  const forget = stopOnSignal()
  try {
    if (options.warmupMs > 0) {
      console.error(`lb bench: warming up for ${options.warmupMs} ms (not measured)`)
      await runLoad({ ...loadOptions(options), url, durationMs: options.warmupMs, requests: undefined })
    }
    const bar = progress(options, 'bench')
    const result = await runLoad({ ...loadOptions(options), url }, (p: LoadProgress) => bar.update(p))
    bar.finish()
    if (options.json) process.stdout.write(`${JSON.stringify(resultJson(result))}\n`)
    else console.log(formatResult(result, stack === undefined ? 'lb bench' : 'lb bench (sample backends behind the balancer, round robin)'))
    if (options.json) for (const why of [...result.generator.reasons, ...result.warnings]) console.error(`lb bench: note: ${why}`)
    return result.requests.total > 0 ? 0 : 1
  } finally {
    forget()
    await stack?.stop()
  }
}

async function runCompare(options: BenchOptions, algorithms: NonNullable<BenchOptions['compare']>): Promise<number> {
  const labels = options.scenario.map((s) => ({ name: s.name, label: describeScenarioBackend(s) }))
  console.error(`lb bench: comparing ${algorithms.join(', ')} on ${labels.map((l) => l.label).join(', ')}`)
  let bar: ProgressReporter | undefined
  const forget = stopOnSignal()
  const runs = await runComparison({
    startBalancer,
    algorithms,
    backends: options.scenario,
    load: loadOptions(options),
    path: options.path,
    workers: options.workers,
    warmupMs: options.warmupMs,
    logLevel: options.json ? 'silent' : 'warn',
    onRunStart: (algorithm) => {
      bar = progress(options, algorithm.padEnd(12))
      const current = bar
      return (p) => current.update(p)
    },
    onRunEnd: () => bar?.finish(),
  }).finally(forget)
  if (options.json) {
    const doc = {
      scenario: { backends: options.scenario, connections: options.connections, durationMs: options.durationMs, requests: options.requests ?? null, rate: options.rate ?? null },
      runs: runs.map((r) => ({ algorithm: r.algorithm, ...resultJson(r.result) })),
    }
    process.stdout.write(`${JSON.stringify(doc)}\n`)
  } else {
    const load = options.requests === undefined ? `${options.durationMs / 1000} s` : `${options.requests} requests`
    console.log(`lb bench --compare: ${options.connections} connections, ${load} per algorithm, ${options.method} ${options.path}\n`)
    console.log(formatComparison(runs, labels))
  }
  return runs.every((r) => r.result.requests.total > 0) ? 0 : 1
}
