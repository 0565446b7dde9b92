/**
 * The totals the dashboard is computed from, read out of the summed worker metrics, added over
 * instances, and carried through the shared state store as JSON.
 */
import { DURATION_BUCKETS_SECONDS } from './metrics.js'
import type { MetricObjectWithValues, MetricValue } from 'prom-client'

/** Metrics of one registry as JSON (`registry.getMetricsAsJSON()`). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[]

const BOUNDS = DURATION_BUCKETS_SECONDS
const NB = BOUNDS.length + 1 // + the +Inf bucket

/**
 * What the dashboard needs of the metrics: totals since start (counters) and current values (gauges), by
 * `pool\0endpoint` where per endpoint. One instance's, or the sum of several (see instance-stats.ts).
 */
export interface Cumulative {
  requests: Map<string, number> // pool\0endpoint -> total
  errors: Map<string, number> // pool\0endpoint -> 5xx total
  codes: Map<string, number>
  buckets: Map<string, number[]> // pool\0endpoint -> cumulative counts per bucket (NB)
  inFlight: Map<string, number> // gauge
  circuit: Map<string, number> // gauge: the worst state of any worker
  rateLimited: number
  websockets: number // gauge
}

/** Empty totals. */
export function emptyCumulative(): Cumulative {
  return { requests: new Map(), errors: new Map(), codes: new Map(), buckets: new Map(), inFlight: new Map(), circuit: new Map(), rateLimited: 0, websockets: 0 }
}

/** Adds `from` into `into`: counters always, gauges only when `gauges` (a departed instance has none). */
export function addCumulative(into: Cumulative, from: Cumulative, gauges: boolean): void {
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v)
  for (const [k, v] of from.requests) add(into.requests, k, v)
  for (const [k, v] of from.errors) add(into.errors, k, v)
  for (const [k, v] of from.codes) add(into.codes, k, v)
  for (const [k, arr] of from.buckets) {
    let mine = into.buckets.get(k)
    if (mine === undefined) into.buckets.set(k, (mine = new Array<number>(NB).fill(0)))
    for (let i = 0; i < NB; i++) mine[i] = (mine[i] ?? 0) + (arr[i] ?? 0)
  }
  into.rateLimited += from.rateLimited
  if (!gauges) return
  for (const [k, v] of from.inFlight) add(into.inFlight, k, v)
  for (const [k, v] of from.circuit) into.circuit.set(k, Math.max(into.circuit.get(k) ?? 0, v))
  into.websockets += from.websockets
}

/** {@link Cumulative} as JSON (maps as entry lists), for the shared state store. */
export interface CumulativeJson {
  requests: Array<[string, number]>
  errors: Array<[string, number]>
  codes: Array<[string, number]>
  buckets: Array<[string, number[]]>
  inFlight: Array<[string, number]>
  circuit: Array<[string, number]>
  rateLimited: number
  websockets: number
}

export function encodeCumulative(c: Cumulative): CumulativeJson {
  return {
    requests: [...c.requests],
    errors: [...c.errors],
    codes: [...c.codes],
    buckets: [...c.buckets],
    inFlight: [...c.inFlight],
    circuit: [...c.circuit],
    rateLimited: c.rateLimited,
    websockets: c.websockets,
  }
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0

/**
 * Totals written by another instance (perhaps another version), checked entry by entry: what is not a
 * `[string, count]` pair (or a bucket list of NB counts) is left out; undefined when it is not an object.
 */
export function decodeCumulative(x: unknown): Cumulative | undefined {
  if (typeof x !== 'object' || x === null) return undefined
  const o = x as Record<string, unknown>
  const counts = (v: unknown): Map<string, number> => {
    const m = new Map<string, number>()
    if (Array.isArray(v)) for (const e of v) if (Array.isArray(e) && typeof e[0] === 'string' && isCount(e[1])) m.set(e[0], e[1])
    return m
  }
  const buckets = new Map<string, number[]>()
  if (Array.isArray(o.buckets)) {
    for (const e of o.buckets) {
      if (Array.isArray(e) && typeof e[0] === 'string' && Array.isArray(e[1]) && e[1].length === NB && e[1].every(isCount)) buckets.set(e[0], e[1] as number[])
    }
  }
  return {
    requests: counts(o.requests),
    errors: counts(o.errors),
    codes: counts(o.codes),
    buckets,
    inFlight: counts(o.inFlight),
    circuit: counts(o.circuit),
    rateLimited: isCount(o.rateLimited) ? o.rateLimited : 0,
    websockets: isCount(o.websockets) ? o.websockets : 0,
  }
}

/** Parses the summed metrics JSON into the totals the dashboard needs. */
export function readCumulative(json: readonly MetricsJson[]): Cumulative {
  const c = emptyCumulative()
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v)
  for (const reg of json) {
    for (const metric of reg) {
      for (const v of metric.values) {
        const l = v.labels as Record<string, string | number | undefined>
        const key = `${String(l.pool ?? '')}\u0000${String(l.endpoint ?? '')}`
        switch (metric.name) {
          case 'lb_requests_total': {
            add(c.requests, key, v.value)
            const code = String(l.code ?? '')
            add(c.codes, code, v.value)
            if (code.startsWith('5')) add(c.errors, key, v.value)
            break
          }
          case 'lb_request_duration_seconds': {
            if ((v as { metricName?: string }).metricName !== 'lb_request_duration_seconds_bucket') break
            const le = l.le === '+Inf' ? Infinity : Number(l.le)
            const i = le === Infinity ? BOUNDS.length : BOUNDS.indexOf(le)
            if (i < 0) break
            let arr = c.buckets.get(key)
            if (arr === undefined) c.buckets.set(key, (arr = new Array<number>(NB).fill(0)))
            arr[i] = (arr[i] ?? 0) + v.value
            break
          }
          case 'lb_inflight_requests':
            add(c.inFlight, key, v.value)
            break
          case 'lb_circuit_state':
            c.circuit.set(key, Math.max(c.circuit.get(key) ?? 0, v.value))
            break
          case 'lb_rate_limited_total':
            c.rateLimited += v.value
            break
          case 'lb_websocket_connections':
            c.websockets += v.value
            break
        }
      }
    }
  }
  return c
}

