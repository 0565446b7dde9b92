/**
 * Arguments of `lb bench`, parsed and checked in one pass: every problem is reported at once, each
 * naming its flag (`flag --connections: expected a positive integer, got "x"`), like `lb check` does
 * for a configuration.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ALGORITHMS, type AlgorithmId } from '../core/index.js'
import { ConfigError, parseDuration } from '../config/index.js'
import type { ScenarioBackendSpec } from './scenario-backend.js'
import type { LoadOptions } from './run-load.js'

/** Everything `lb bench` was asked to do: the load itself (as the generator takes it) and the bench around it. Durations in ms. */
export interface BenchOptions extends Omit<LoadOptions, 'url'> {
  /** The URL to load; undefined = start sample backends and a balancer. */
  target?: string | undefined
  /** Unmeasured load before the measured run, ms (default 0; 1 s with --compare). */
  warmupMs: number
  json: boolean
  /** Path requested on a self-started balancer (default `/api/test`, `/` with --compare). */
  path: string
  /** Balancer workers when the bench starts its own (default 2). */
  workers: number
  /** `--compare`: the algorithms to run the scenario under, in order. */
  compare?: AlgorithmId[] | undefined
  /** The `--compare` scenario's backends. */
  scenario: ScenarioBackendSpec[]
  help: boolean
}

/**
 * Defaults of the `--compare` scenario: backend-1..3 at 5, 5 and 50 ms (backend-3 also serving only 4 requests
 * at once), and backend-2 degrading to 50 ms mid-run; every other backend serves 16 at once.
 */
export const DEFAULT_LATENCIES = '5ms,5ms,50ms/4'
export const DEFAULT_DEGRADE = '2:50ms'
export const DEFAULT_BACKEND_CONCURRENCY = 16

/** Parses `argv` (after `bench`). Throws {@link ConfigError} listing every problem. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      target: { type: 'string' },
      connections: { type: 'string', short: 'c', default: '32' },
      duration: { type: 'string', short: 'd', default: '10s' },
      requests: { type: 'string', short: 'n' },
      rate: { type: 'string', short: 'r' },
      method: { type: 'string', short: 'm', default: 'GET' },
      body: { type: 'string', short: 'b' },
      header: { type: 'string', short: 'H', multiple: true, default: [] },
      timeout: { type: 'string', default: '10s' },
      warmup: { type: 'string' },
      json: { type: 'boolean', default: false },
      path: { type: 'string' },
      workers: { type: 'string', default: '2' },
      compare: { type: 'string' },
      latencies: { type: 'string', default: DEFAULT_LATENCIES },
      degrade: { type: 'string', default: DEFAULT_DEGRADE },
      'backend-concurrency': { type: 'string', default: String(DEFAULT_BACKEND_CONCURRENCY) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const problems: string[] = []
  const positive = (flag: string, text: string | undefined, min = 1): number | undefined => {
    if (text === undefined) return undefined
    const n = Number(text)
    if (Number.isInteger(n) && n >= min) return n
    problems.push(`flag --${flag}: expected an integer >= ${min}, got "${text}"`)
    return undefined
  }
  const duration = (flag: string, text: string): number | undefined => {
    const ms = parseDuration(text)
    if (ms !== undefined && ms > 0) return ms
    problems.push(`flag --${flag}: expected a duration such as 500ms, 10s or 1m, got "${text}"`)
    return undefined
  }

  let target: string | undefined
  if (values.target !== undefined) {
    try {
      const url = new URL(values.target)
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http')
      target = url.href
    } catch {
      problems.push(`flag --target: expected an http:// or https:// URL, got "${values.target}"`)
    }
  }

  const headers: Record<string, string> = {}
  for (const h of values.header) {
    const colon = h.indexOf(':')
    const name = colon > 0 ? h.slice(0, colon).trim() : ''
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) problems.push(`flag --header: expected NAME:VALUE, got "${h}"`)
    else headers[name.toLowerCase()] = h.slice(colon + 1).trim()
  }

  let body = values.body
  if (body?.startsWith('@') === true) {
    try {
      body = readFileSync(body.slice(1), 'utf8')
    } catch (err) {
      problems.push(`flag --body: cannot read ${body.slice(1)}: ${(err as Error).message}`)
    }
  }

  const method = values.method.toUpperCase()
  if (!/^[A-Z]+$/.test(method)) problems.push(`flag --method: expected an HTTP method such as GET or POST, got "${values.method}"`)

  let compare: AlgorithmId[] | undefined
  if (values.compare !== undefined) {
    compare = []
    for (const name of values.compare.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      if ((ALGORITHMS as readonly string[]).includes(name)) compare.push(name as AlgorithmId)
      else problems.push(`flag --compare: unknown algorithm "${name}", expected some of ${ALGORITHMS.join(', ')}`)
    }
    if (compare.length === 0 && problems.length === 0) problems.push('flag --compare: expected a comma-separated list of algorithms')
    if (target !== undefined) problems.push('flag --compare: runs its own backends and balancers; it cannot be combined with --target')
  }

  const durationMs = duration('duration', values.duration) ?? 10_000
  const requests = positive('requests', values.requests)
  const concurrency = positive('backend-concurrency', values['backend-concurrency'], 0) ?? DEFAULT_BACKEND_CONCURRENCY
  const scenario = parseScenario(values.latencies, values.degrade, concurrency, requests === undefined ? durationMs / 2 : 5000, problems)
  const connections = positive('connections', values.connections) ?? 32
  if (requests !== undefined && requests < connections) problems.push(`flag --requests: expected at least as many requests as connections (${connections}), got ${requests}`)

  const options: BenchOptions = {
    target,
    connections,
    durationMs,
    requests,
    rate: positive('rate', values.rate),
    method,
    body,
    headers,
    timeoutMs: duration('timeout', values.timeout) ?? 10_000,
    warmupMs: values.warmup === undefined ? (compare === undefined ? 0 : 1000) : values.warmup === '0' ? 0 : (duration('warmup', values.warmup) ?? 0),
    json: values.json,
    path: values.path ?? (compare === undefined ? '/api/test' : '/'),
    workers: positive('workers', values.workers) ?? 2,
    compare,
    scenario,
    help: values.help,
  }
  if (!options.path.startsWith('/')) problems.push(`flag --path: expected a path starting with /, got "${options.path}"`)
  if (problems.length > 0 && !options.help) throw new ConfigError(problems)
  return options
}

/**
 * `--latencies 5ms,5ms,50ms/4` names backend-1..n (`/N`: that backend serves N requests at once instead of
 * `--backend-concurrency`); `--degrade N:LATENCY[@AFTER]` makes backend N switch to
 * LATENCY after AFTER (default: half the run), `none` turns it off.
 */
function parseScenario(latencies: string, degrade: string, concurrency: number, defaultAfterMs: number, problems: string[]): ScenarioBackendSpec[] {
  const specs: ScenarioBackendSpec[] = []
  for (const [i, text] of latencies.split(',').entries()) {
    const [latency = '', slots] = text.trim().split('/')
    const ms = parseDuration(latency)
    const own = slots === undefined ? concurrency : Number(slots)
    if (ms === undefined || !Number.isInteger(own) || own < 0) {
      problems.push(`flag --latencies: expected LATENCY[/CONCURRENCY] items such as 5ms,5ms,50ms/4; item ${i + 1} is "${text}"`)
    } else specs.push({ name: `backend-${i + 1}`, latencyMs: ms, concurrency: own })
  }
  if (specs.length < 2) problems.push(`flag --latencies: expected at least two backends, got "${latencies}"`)
  if (degrade === 'none' || degrade === '') return specs
  const m = /^(\d+):([^@]+)(?:@(.+))?$/.exec(degrade.trim())
  const index = m === null ? NaN : Number(m[1]) - 1
  const latencyMs = m?.[2] === undefined ? undefined : parseDuration(m[2])
  const afterMs = m?.[3] === undefined ? defaultAfterMs : parseDuration(m[3])
  const target = specs[index]
  if (m === null || latencyMs === undefined || afterMs === undefined) {
    problems.push(`flag --degrade: expected N:LATENCY[@AFTER] (e.g. 2:50ms@5s) or none, got "${degrade}"`)
  } else if (target === undefined) {
    problems.push(`flag --degrade: there is no backend ${m[1]} (--latencies names ${specs.length})`)
  } else {
    target.degrade = { afterMs: Math.round(afterMs), latencyMs }
  }
  return specs
}
