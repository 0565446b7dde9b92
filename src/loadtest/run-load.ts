/**
 * One load run on autocannon: N keep-alive connections, each sending its next request when the previous
 * answer arrived (closed loop), for a duration or a request count, optionally capped at an overall rate
 * (autocannon's `overallRate`, spread over the connections; latencies are then corrected for coordinated
 * omission). Counts `x-backend` response headers to show how the load was spread, and watches its own
 * CPU and event loop to tell when the generator, not the target, is the bottleneck.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type autocannon from 'autocannon'
import { loadGenerator } from './load-generator.js'

/** What to send, how hard and for how long. */
export interface LoadOptions {
  url: string
  /** Concurrent keep-alive connections (default 32). */
  connections: number
  /** Run time, ms; ignored when `requests` is set. */
  durationMs: number
  /** Stop after exactly this many responses instead of after `durationMs`. */
  requests?: number | undefined
  /** Overall requests per second cap; undefined = as fast as the connections go. */
  rate?: number | undefined
  method: string
  body?: string | undefined
  headers: Record<string, string>
  /** Per-request timeout, ms (default 10 s): counted as an error, and the connection is reopened. */
  timeoutMs: number
}

/** A snapshot for the progress display. */
export interface LoadProgress {
  elapsedMs: number
  completed: number
  errors: number
  /** Responses in the last second. */
  lastSecond: number
}

/** Why the generator itself may have limited the result. */
export interface GeneratorHealth {
  /** Average CPU of the bench process over the run, percent of one core. */
  cpuPercent: number
  /** 99th percentile of the bench process's event-loop delay, ms. */
  eventLoopDelayP99Ms: number
  isBottleneck: boolean
  /** Human-readable reasons, empty when the generator kept up. */
  reasons: string[]
}

/** The outcome of one run. Latencies in ms. */
export interface LoadResult {
  url: string
  connections: number
  method: string
  /** Requested overall rate, if any. */
  rate?: number | undefined
  /** Wall time of the run, ms. */
  durationMs: number
  requests: {
    /** Responses received (any status): the number to compare with the target's own count. */
    total: number
    /** Requests written; those past `total` were in flight (or failed) when the run stopped. */
    sent: number
    perSecond: number
  }
  latency: { mean: number; p50: number; p90: number; p99: number; max: number }
  errors: { total: number; timeouts: number; byCode: Record<string, number> }
  /** Responses with a status outside 200-299. */
  non2xx: number
  statusCodes: Record<string, number>
  /** Responses per `x-backend` header value (empty when the target sends none). */
  backends: Record<string, number>
  throughputBytesPerSecond: number
  generator: GeneratorHealth
  /** Other caveats about the result (a rate that was not held). */
  warnings: string[]
}

/** Above this average CPU (percent of one core) the generator is called the bottleneck. */
export const GENERATOR_CPU_LIMIT_PERCENT = 90
/** Above this event-loop delay p99 (ms) latencies include the generator's own queueing. */
export const GENERATOR_LOOP_DELAY_LIMIT_MS = 50

/** Parser info autocannon's client emits as `headers` (http-parser-js): a flat [name, value, ...] list. */
interface ParsedHead {
  headers?: unknown
}

/**
 * Runs the load and resolves with the result. `onProgress` is called every `progressIntervalMs`
 * (default 250 ms). Rejects on invalid options, or with `LoadGeneratorMissingError` when autocannon is not
 * installed; network failures are counted in `errors`.
 */
export async function runLoad(options: LoadOptions, onProgress?: (p: LoadProgress) => void, progressIntervalMs = 250): Promise<LoadResult> {
  const autocannonRun = await loadGenerator()
  const backends: Record<string, number> = {}
  const errorCodes: Record<string, number> = {}
  let completed = 0
  let errors = 0
  const recent: number[] = [] // completion times (ms since start) in the last second, for the live rate

  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  const cpuStart = process.cpuUsage()
  const started = performance.now()

  return new Promise<LoadResult>((resolve, reject) => {
    let ticker: NodeJS.Timeout | undefined
    const snapshot = (): LoadProgress => {
      const now = performance.now() - started
      while (recent.length > 0 && (recent[0] ?? 0) < now - 1000) recent.shift()
      return { elapsedMs: now, completed, errors, lastSecond: recent.length }
    }
    let instance: autocannon.Instance
    try {
      instance = autocannonRun(
        {
          url: options.url,
          connections: options.connections,
          duration: options.durationMs / 1000,
          amount: options.requests,
          overallRate: options.rate,
          method: options.method as autocannon.Request['method'],
          body: options.body,
          headers: options.headers,
          timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
          setupClient: (client) => {
            // Emitted once per response head, before the body; counts who answered.
            client.on('headers', (head: unknown) => {
              const list = (head as ParsedHead).headers
              if (!Array.isArray(list)) return
              for (let i = 0; i + 1 < list.length; i += 2) {
                const name = list[i] as unknown
                if (typeof name === 'string' && name.length === 9 && name.toLowerCase() === 'x-backend') {
                  const value = String(list[i + 1])
                  backends[value] = (backends[value] ?? 0) + 1
                }
              }
            })
          },
        },
        (err, result) => {
          if (ticker !== undefined) clearInterval(ticker)
          loopDelay.disable()
          if (err !== null && err !== undefined) return reject(err as Error)
          const wallMs = performance.now() - started
          const cpu = process.cpuUsage(cpuStart)
          resolve(toLoadResult(options, result, wallMs, cpu, loopDelay.percentile(99) / 1e6, backends, errorCodes))
        },
      )
    } catch (err) {
      loopDelay.disable()
      return reject(err as Error)
    }
    loopDelay.enable()
    instance.on('response', () => {
      completed++
      recent.push(performance.now() - started)
    })
    instance.on('reqError', (err: unknown) => {
      errors++
      const code = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err)
      errorCodes[code] = (errorCodes[code] ?? 0) + 1
    })
    if (onProgress !== undefined) ticker = setInterval(() => onProgress(snapshot()), progressIntervalMs)
  })
}

function toLoadResult(
  options: LoadOptions,
  r: autocannon.Result,
  wallMs: number,
  cpu: NodeJS.CpuUsage,
  loopDelayP99Ms: number,
  backends: Record<string, number>,
  byCode: Record<string, number>,
): LoadResult {
  const statusCodes: Record<string, number> = {}
  for (const [code, stat] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = (stat as { count?: number }).count ?? 0
  const total = r.requests.total
  const seconds = wallMs / 1000
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / wallMs) * 100
  const reasons: string[] = []
  if (cpuPercent >= GENERATOR_CPU_LIMIT_PERCENT) {
    reasons.push(`the bench process used ${cpuPercent.toFixed(0)} % of one CPU core: it, not the target, limited the rate (try fewer connections, or run the bench on another machine)`)
  }
  if (loopDelayP99Ms >= GENERATOR_LOOP_DELAY_LIMIT_MS) {
    reasons.push(`the bench's event loop lagged ${loopDelayP99Ms.toFixed(0)} ms (p99): measured latencies include that much of the generator's own delay`)
  }
  const localErrors = Object.entries(byCode).filter(([code]) => /^(EADDRNOTAVAIL|EMFILE|ENFILE|ENOBUFS)$/.test(code))
  if (localErrors.length > 0) reasons.push(`local socket errors (${localErrors.map(([c, n]) => `${c} x${n}`).join(', ')}): the generator ran out of sockets or files`)
  const warnings: string[] = []
  if (options.rate !== undefined && options.requests === undefined) {
    const achieved = total / seconds
    if (achieved < options.rate * 0.9) {
      warnings.push(`asked for ${options.rate} req/s, got ${achieved.toFixed(0)} req/s: with ${options.connections} connections each waiting for its answer, the rate needs more connections or a faster target`)
    }
  }
  return {
    url: options.url,
    connections: options.connections,
    method: options.method,
    rate: options.rate,
    durationMs: Math.round(wallMs),
    requests: { total, sent: Math.max(r.requests.sent, total), perSecond: round(total / seconds, 1) },
    latency: { mean: round(r.latency.mean, 2), p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    errors: { total: r.errors, timeouts: r.timeouts, byCode },
    non2xx: r.non2xx,
    statusCodes,
    backends,
    throughputBytesPerSecond: Math.round(r.throughput.total / seconds),
    generator: { cpuPercent: round(cpuPercent, 1), eventLoopDelayP99Ms: round(loopDelayP99Ms, 1), isBottleneck: reasons.length > 0, reasons },
    warnings,
  }
}

function round(n: number, digits: number): number {
  if (!Number.isFinite(n)) return 0
  const f = 10 ** digits
  return Math.round(n * f) / f
}
