/**
 * Live statistics for the dashboard, derived in the primary from successive snapshots of the summed
 * worker metrics: rates are counter deltas over time, latency percentiles come from histogram bucket
 * deltas (linear interpolation inside a bucket, as PromQL's `histogram_quantile`). It works on totals
 * (stats-totals.ts), so the same code shows one instance or the sum over several (instance-stats.ts).
 */
import { DURATION_BUCKETS_SECONDS } from './metrics.js'
import { addCumulative, type Cumulative } from './stats-totals.js'

/** Ticks over which the table's rates and percentiles are computed (smoother than one tick). */
const WINDOW_TICKS = 5
/** Points of history kept for the charts (10 minutes at one per second). */
export const HISTORY_POINTS = 600

/** One point of the charts. Rates per second, latencies in ms (undefined without traffic). */
export interface StatsPoint {
  t: number
  rps: number
  p50?: number | undefined
  p90?: number | undefined
  p99?: number | undefined
  /** Requests per second by status class: [1xx+2xx, 3xx, 4xx, 5xx]. */
  classes: [number, number, number, number]
}

/** One endpoint row of the dashboard. */
export interface EndpointStats {
  id: string
  url: string
  /** healthy | unhealthy | ejected | draining | circuit-open */
  state: string
  healthy: boolean
  ejected: boolean
  drained: boolean
  backup: boolean
  circuit: 'closed' | 'half-open' | 'open'
  weight: number
  inFlight: number
  rps: number
  /** Share of 5xx answers over the window, 0..1. */
  errorRate: number
  p50?: number | undefined
  p99?: number | undefined
  requests: number
}

/** The snapshot sent every second over Server-Sent Events. */
export interface DashboardSnapshot extends StatsPoint {
  /** Totals since start (of live and exited workers; with shared state, of every instance seen). */
  requests: number
  codes: Record<string, number>
  inFlight: number
  rateLimited: number
  websockets: number
  /** Proxy workers of this instance. */
  workers: number
  /** Balancer instances counted in the figures (those sharing the state store and alive). */
  instances: number
  ready: boolean
  pools: Array<{ name: string; algorithm: string; endpoints: EndpointStats[] }>
}

/** The endpoint facts of the primary (the shape of `cluster/`'s `PoolView`). */
export interface PoolStateSource {
  name: string
  algorithm: string
  endpoints: ReadonlyArray<{ id: string; url: string; weight: number; backup: boolean; healthy: boolean; ejected: boolean; drained: boolean; circuit: 'closed' | 'open' | 'half-open' }>
}

const BOUNDS = DURATION_BUCKETS_SECONDS
const NB = BOUNDS.length + 1 // + the +Inf bucket

/**
 * Quantile `q` (0..1) in ms from per-bucket cumulative counts (`counts[i]` = observations <= bound i),
 * or undefined when empty. Past the last finite bound it answers that bound (10 s).
 */
export function quantileMs(counts: readonly number[], q: number): number | undefined {
  const total = counts[counts.length - 1] ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  let prevCount = 0
  let prevBound = 0
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0
    const bound = BOUNDS[i]
    if (c >= rank) {
      if (bound === undefined) return prevBound * 1000
      const inBucket = c - prevCount
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 1
      return (prevBound + (bound - prevBound) * frac) * 1000
    }
    prevCount = c
    if (bound !== undefined) prevBound = bound
  }
  return prevBound * 1000
}

function sub(a: readonly number[] | undefined, b: readonly number[] | undefined): number[] {
  const out = new Array<number>(NB).fill(0)
  for (let i = 0; i < NB; i++) out[i] = Math.max(0, (a?.[i] ?? 0) - (b?.[i] ?? 0))
  return out
}

function sumBuckets(m: Map<string, number[]>): number[] {
  const out = new Array<number>(NB).fill(0)
  for (const arr of m.values()) for (let i = 0; i < NB; i++) out[i] = (out[i] ?? 0) + (arr[i] ?? 0)
  return out
}

function sumMap(m: Map<string, number>): number {
  let s = 0
  for (const v of m.values()) s += v
  return s
}

const round = (x: number | undefined, digits = 2): number | undefined => (x === undefined ? undefined : Math.round(x * 10 ** digits) / 10 ** digits)

/** Keeps the last snapshots of the totals and turns each new one into a {@link DashboardSnapshot}. */
export class StatsTracker {
  /** Cumulative totals at each of the last WINDOW_TICKS + 1 ticks, with their time. */
  private readonly recent: Array<{ t: number; c: Cumulative }> = []
  private readonly history: StatsPoint[] = []

  /** The chart history, oldest first (at most {@link HISTORY_POINTS}). */
  points(): readonly StatsPoint[] {
    return this.history
  }

  /**
   * Adds counters that joined the totals at once (an instance that started to be counted) to the past
   * ticks too, so they are not read as requests served in the last tick.
   */
  rebase(joined: Cumulative): void {
    for (const r of this.recent) addCumulative(r.c, joined, false)
  }

  /**
   * Feeds the totals taken at `t` (ms: {@link readCumulative} of the summed worker metrics, or the sum
   * over instances) and the primary's endpoint view; returns the snapshot for the dashboard and appends
   * a point to the history. `instances`: balancer instances in the totals (1 without shared state).
   */
  update(t: number, cur: Cumulative, pools: readonly PoolStateSource[], extra: { workers: number; ready: boolean; instances?: number }): DashboardSnapshot {
    const prev = this.recent[this.recent.length - 1]
    const oldest = this.recent[0]
    this.recent.push({ t, c: cur })
    if (this.recent.length > WINDOW_TICKS + 1) this.recent.shift()

    // Per tick (charts).
    const dt = prev === undefined ? 0 : (t - prev.t) / 1000
    const tickRate = (a: number, b: number): number => (dt > 0 ? Math.max(0, a - b) / dt : 0)
    const total = sumMap(cur.requests)
    const classes: [number, number, number, number] = [0, 0, 0, 0]
    for (const [code, v] of cur.codes) {
      const k = code[0] === '3' ? 1 : code[0] === '4' ? 2 : code[0] === '5' ? 3 : 0
      classes[k] += tickRate(v, prev?.c.codes.get(code) ?? 0)
    }
    // Percentiles over the window (a one-second slice of a quiet balancer is too noisy).
    const base = oldest === undefined || oldest.c === cur ? undefined : oldest.c
    const wdt = base === undefined || oldest === undefined ? 0 : (t - oldest.t) / 1000
    const windowBuckets = sub(sumBuckets(cur.buckets), base === undefined ? undefined : sumBuckets(base.buckets))
    const point: StatsPoint = {
      t,
      rps: round(tickRate(total, prev === undefined ? total : sumMap(prev.c.requests))) ?? 0,
      p50: round(quantileMs(windowBuckets, 0.5)),
      p90: round(quantileMs(windowBuckets, 0.9)),
      p99: round(quantileMs(windowBuckets, 0.99)),
      classes: classes.map((x) => round(x) ?? 0) as [number, number, number, number],
    }
    if (prev !== undefined) {
      this.history.push(point)
      if (this.history.length > HISTORY_POINTS) this.history.shift()
    }

    const circuitName = ['closed', 'half-open', 'open'] as const
    return {
      ...point,
      requests: total,
      codes: Object.fromEntries(cur.codes),
      inFlight: sumMap(cur.inFlight),
      rateLimited: cur.rateLimited,
      websockets: cur.websockets,
      workers: extra.workers,
      instances: extra.instances ?? 1,
      ready: extra.ready,
      pools: pools.map((p) => ({
        name: p.name,
        algorithm: p.algorithm,
        endpoints: p.endpoints.map((e): EndpointStats => {
          const key = `${p.name}\u0000${e.id}`
          const reqs = cur.requests.get(key) ?? 0
          const wReqs = base === undefined ? 0 : Math.max(0, reqs - (base.requests.get(key) ?? 0))
          const wErrs = base === undefined ? 0 : Math.max(0, (cur.errors.get(key) ?? 0) - (base.errors.get(key) ?? 0))
          const buckets = sub(cur.buckets.get(key), base?.buckets.get(key))
          const metricCircuit = circuitName[cur.circuit.get(key) ?? 0] ?? 'closed'
          const circuit = metricCircuit !== 'closed' ? metricCircuit : e.circuit
          const state = e.drained ? 'draining' : !e.healthy ? 'unhealthy' : e.ejected ? 'ejected' : circuit === 'open' ? 'circuit-open' : 'healthy'
          return {
            id: e.id,
            url: e.url,
            state,
            healthy: e.healthy,
            ejected: e.ejected,
            drained: e.drained,
            backup: e.backup,
            circuit,
            weight: e.weight,
            inFlight: cur.inFlight.get(key) ?? 0,
            rps: round(wdt > 0 ? wReqs / wdt : 0) ?? 0,
            errorRate: wReqs > 0 ? (round(wErrs / wReqs, 4) ?? 0) : 0,
            p50: round(quantileMs(buckets, 0.5)),
            p99: round(quantileMs(buckets, 0.99)),
            requests: reqs,
          }
        }),
      })),
    }
  }
}
