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
 * The messages, `{ type: 'lb-metrics:req' | 'lb-metrics:res' }`, are not the project's typed
 * `lb:*` messages: `cluster/ipc.ts`'s guards ignore them, as these handlers ignore the others.
 */
import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client'

/** Metrics of one registry as JSON (`registry.getMetricsAsJSON()`). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[]

const REQ = 'lb-metrics:req'
const RES = 'lb-metrics:res'

interface MetricsRequest { type: typeof REQ; id: number }
interface MetricsResponse { type: typeof RES; id: number; metrics?: MetricsJson; error?: string }

function isResponse(m: unknown): m is MetricsResponse {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === RES
}

/**
 * Worker side: answers the primary's metric requests with `registry`'s JSON. Returns a function
 * that stops answering.
 */
export function serveMetricsToPrimary(registry: Registry): () => void {
  const onMessage = (m: unknown): void => {
    if (typeof m !== 'object' || m === null || (m as { type?: unknown }).type !== REQ) return
    const id = (m as MetricsRequest).id
    registry.getMetricsAsJSON().then(
      (metrics) => {
        if (process.connected) process.send?.({ type: RES, id, metrics: metrics as MetricsJson } satisfies MetricsResponse)
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
  answers: Map<number, MetricsJson>
  done: () => void
}

/** Primary side: asks every live worker for its metrics and sums them. */
export class ClusterMetricsCollector {
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  /** Last answer of each live worker (by cluster worker id). */
  private readonly last = new Map<number, MetricsJson>()
  /** Counters and histograms of workers that exited, already summed. */
  private retired: MetricsJson = []
  private retiring: Promise<void> = Promise.resolve()
  private readonly onMessage = (worker: Worker, m: unknown): void => {
    if (!isResponse(m)) return
    const p = this.pending.get(m.id)
    if (p === undefined || !p.waiting.delete(worker.id)) return
    if (m.metrics !== undefined) p.answers.set(worker.id, m.metrics)
    if (p.waiting.size === 0) p.done()
  }
  private readonly onExit = (worker: Worker): void => {
    const json = this.last.get(worker.id)
    this.last.delete(worker.id)
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
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected())
    const id = this.nextId++
    const answers = new Map<number, MetricsJson>()
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
          w.send({ type: REQ, id } satisfies MetricsRequest)
          waiting.add(w.id)
        } catch {
          // The worker disconnected between the check and the send: use its last answer.
        }
      }
      if (waiting.size === 0) finish()
    })
    const out: MetricsJson[] = []
    for (const w of workers) {
      const fresh = answers.get(w.id)
      if (fresh !== undefined) this.last.set(w.id, fresh)
      const json = fresh ?? this.last.get(w.id)
      if (json !== undefined) out.push(json)
    }
    await this.retiring
    if (this.retired.length > 0) out.push(this.retired)
    return out
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
