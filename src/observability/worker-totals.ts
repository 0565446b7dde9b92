/**
 * A worker's dashboard totals read straight from its metric cells and pools: what
 * `readCumulative([await registry.getMetricsAsJSON()])` returns, without rendering a label object per
 * histogram bucket and per endpoint first (the dashboard asks every second; with 1 000 endpoints the
 * rendering was most of the cost).
 */
import { CIRCUIT_STATE_VALUE, DURATION_BUCKETS_SECONDS, type WorkerMetrics } from './metrics.js'
import { emptyCumulative, type Cumulative } from './stats-totals.js'

const NB = DURATION_BUCKETS_SECONDS.length + 1

/** The dashboard totals of one worker's metrics (see the file comment). */
export async function workerTotals(metrics: WorkerMetrics): Promise<Cumulative> {
  const c = emptyCumulative()
  const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v)
  for (const { labels, cell } of metrics.requests.entries()) {
    const key = `${labels.pool ?? ''}\u0000${labels.endpoint ?? ''}`
    const code = labels.code ?? ''
    add(c.requests, key, cell.value)
    add(c.codes, code, cell.value)
    if (code.startsWith('5')) add(c.errors, key, cell.value)
  }
  for (const { labels, cell } of metrics.duration.entries()) {
    const key = `${labels.pool ?? ''}\u0000${labels.endpoint ?? ''}`
    let arr = c.buckets.get(key)
    if (arr === undefined) c.buckets.set(key, (arr = new Array<number>(NB).fill(0)))
    // Cumulative per bound, as the exposition's buckets; the last (+Inf) is the count.
    let cumulative = 0
    for (let i = 0; i < NB - 1; i++) {
      cumulative += cell.counts[i] ?? 0
      arr[i] = (arr[i] ?? 0) + cumulative
    }
    arr[NB - 1] = (arr[NB - 1] ?? 0) + cell.count
  }
  for (const p of metrics.pools()) {
    for (const e of p.snapshot()) {
      const key = `${p.name}\u0000${e.id}`
      add(c.inFlight, key, e.inFlight)
      c.circuit.set(key, Math.max(c.circuit.get(key) ?? 0, CIRCUIT_STATE_VALUE[e.circuit]))
    }
  }
  for (const v of (await metrics.rateLimited.get()).values) c.rateLimited += v.value
  for (const v of (await metrics.websockets.get()).values) c.websockets += v.value
  return c
}
