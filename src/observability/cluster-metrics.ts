/**
 * Gathers the workers' metric registries in the primary over node:cluster IPC and sums them with
 * `prom-client`'s `AggregatorRegistry.aggregate` (counters and histograms summed, `lb_circuit_state`
 * by max).
 *
 * Why not `AggregatorRegistry.clusterMetrics()`: it fails the whole scrape (after 5 s) when one
 * worker does not answer (one being replaced, or still starting), and the counters of a worker that
 * died would vanish from the sums (a counter going backwards). Here each gather waits at most
 * `timeoutMs` and uses the answers it got, and the last counters and histograms of an exited worker
 * are kept ("retired"), so the totals stay monotonic.
 *
 * The dashboard's once-a-second reading ({@link ClusterMetricsCollector.gatherTotals}) asks for `totals` instead:
 * each worker answers with its {@link Cumulative} read from its metric cells (numbers by
 * `pool\0endpoint`), not the registry's JSON, whose label objects per histogram bucket and per endpoint made
 * 1 000 endpoints cost each worker a few hundred KiB of IPC every second and the primary their parsing.
 *
 * The messages, `{ type: 'lb-metrics:req' | 'lb-metrics:res' }`, are not the project's typed
 * `lb:*` messages: `cluster/ipc.ts`'s guards ignore them, as these handlers ignore the others.
 */
import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'
import { addCumulative, decodeCumulative, emptyCumulative, encodeCumulative, readCumulative, type Cumulative, type CumulativeJson, type MetricsJson } from './stats-totals.js'

export type { MetricsJson } from './stats-totals.js'

const REQ = 'lb-metrics:req'
const RES = 'lb-metrics:res'

/** `totals`: answer with the dashboard totals only (`MetricsResponse.totals`), not the whole registry. */
interface MetricsRequest { type: typeof REQ; id: number; totals?: boolean }
interface MetricsResponse { type: typeof RES; id: number; metrics?: MetricsJson; totals?: CumulativeJson; error?: string }

function isResponse(m: unknown): m is MetricsResponse {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === RES
}

/**
 * Worker side: answers the primary's metric requests with `registry`'s JSON, and its `totals` requests
 * with `totals()` (a worker's: `workerTotals`, read from its metric cells). Returns a function that stops
 * answering.
 */
export function serveMetricsToPrimary(registry: Registry, totals: () => Promise<Cumulative>): () => void {
  const onMessage = (m: unknown): void => {
    if (typeof m !== 'object' || m === null || (m as { type?: unknown }).type !== REQ) return
    const { id, totals: wantsTotals } = m as MetricsRequest
    const answer: Promise<MetricsResponse> = wantsTotals === true
      ? totals().then((c) => ({ type: RES, id, totals: encodeCumulative(c) }))
      : registry.getMetricsAsJSON().then((metrics) => ({ type: RES, id, metrics: metrics as MetricsJson }))
    answer.then(
      (res) => {
        if (process.connected) process.send?.(res)
      },
      (err: unknown) => {
        if (process.connected) process.send?.({ type: RES, id, error: err instanceof Error ? err.message : String(err) } satisfies MetricsResponse)
      },
    )
  }
  process.on('message', onMessage)
  return () => process.off('message', onMessage)
}

interface Pending {
  waiting: Set<number>
  answers: Map<number, MetricsResponse>
  done: () => void
}

/** Primary side: asks every live worker for its metrics and sums them. */
export class ClusterMetricsCollector {
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  /** Last answer of each live worker (by cluster worker id). */
  private readonly last = new Map<number, MetricsJson>()
  /** Last dashboard totals of each live worker (by cluster worker id). */
  private readonly lastTotals = new Map<number, Cumulative>()
  /** Counters and histograms of workers that exited, already summed. */
  private retired: MetricsJson = []
  private retiring: Promise<void> = Promise.resolve()
  private readonly onMessage = (worker: Worker, m: unknown): void => {
    if (!isResponse(m)) return
    const p = this.pending.get(m.id)
    if (p === undefined || !p.waiting.delete(worker.id)) return
    if (m.metrics !== undefined || m.totals !== undefined) p.answers.set(worker.id, m)
    if (p.waiting.size === 0) p.done()
  }
  private readonly onExit = (worker: Worker): void => {
    const json = this.last.get(worker.id)
    this.last.delete(worker.id)
    this.lastTotals.delete(worker.id)
    for (const p of this.pending.values()) if (p.waiting.delete(worker.id) && p.waiting.size === 0) p.done()
    if (json === undefined) return
    // Gauges describe the present: drop the dead worker's. Counters and histograms keep their totals,
    // except the process metrics (labelled `worker`): they describe a process that is gone.
    const kept = json
      .filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram')
      .map((m) => ({ ...m, values: m.values.filter((v) => (v.labels as Record<string, unknown>).worker === undefined) }))
      .filter((m) => m.values.length > 0)
    // Chained, so two exits in a row cannot both fold into the same old total.
    this.retiring = this.retiring.then(async () => {
      this.retired = (await (AggregatorRegistry.aggregate([this.retired, kept]) as Registry).getMetricsAsJSON()) as MetricsJson
    })
  }

  /** @param timeoutMs how long a gather waits for slow workers (their last answer is used instead). */
  constructor(private readonly timeoutMs = 1000) {
    cluster.on('message', this.onMessage)
    cluster.on('exit', this.onExit)
  }

  /** Every worker's metrics (fresh, or the last known for a worker that did not answer in time), plus the retired totals. */
  async gather(): Promise<MetricsJson[]> {
    const { workers, answers } = await this.ask(false)
    const out: MetricsJson[] = []
    for (const w of workers) {
      const fresh = answers.get(w.id)?.metrics
      if (fresh !== undefined) this.last.set(w.id, fresh)
      const json = fresh ?? this.last.get(w.id)
      if (json !== undefined) out.push(json)
    }
    await this.retiring
    if (this.retired.length > 0) out.push(this.retired)
    return out
  }

  /**
   * What `readCumulative(await gather())` returns, at a fraction of the cost: each worker sends its
   * dashboard totals only (fresh, or the last known for a worker that did not answer in time), plus the
   * retired totals. For the dashboard's tick, every second.
   */
  async gatherTotals(): Promise<Cumulative> {
    const { workers, answers } = await this.ask(true)
    const out = emptyCumulative()
    for (const w of workers) {
      const encoded = answers.get(w.id)?.totals
      const fresh = encoded === undefined ? undefined : decodeCumulative(encoded)
      if (fresh !== undefined) this.lastTotals.set(w.id, fresh)
      const totals = fresh ?? this.lastTotals.get(w.id)
      if (totals !== undefined) addCumulative(out, totals, true)
    }
    await this.retiring
    // Counters and histograms only (exited workers' gauges were dropped).
    if (this.retired.length > 0) addCumulative(out, readCumulative([this.retired]), false)
    return out
  }

  /** Sends one request to every live worker; resolves when all answered or after `timeoutMs`. */
  private async ask(totals: boolean): Promise<{ workers: Worker[]; answers: Map<number, MetricsResponse> }> {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())
    const id = this.nextId++
    const answers = new Map<number, MetricsResponse>()
    await new Promise<void>((resolve) => {
      const waiting = new Set<number>()
      const timer = setTimeout(() => finish(), this.timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.pending.delete(id)
        resolve()
      }
      this.pending.set(id, { waiting, answers, done: finish })
      for (const w of workers) {
        try {
          w.send((totals ? { type: REQ, id, totals } : { type: REQ, id }) satisfies MetricsRequest)
          waiting.add(w.id)
        } catch {
          // The worker disconnected between the check and the send: use its last answer.
        }
      }
      if (waiting.size === 0) finish()
    })
    return { workers, answers }
  }

  /** The workers' metrics summed into one registry (no collect functions: read it at once). */
  async aggregate(): Promise<Registry> {
    return AggregatorRegistry.aggregate(await this.gather()) as Registry
  }

  /** Stops listening to the workers. */
  close(): void {
    cluster.off('message', this.onMessage)
    cluster.off('exit', this.onExit)
    for (const p of this.pending.values()) p.done()
  }
}
