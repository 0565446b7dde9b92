/**
 * Counters and histograms whose hot path is a field increment. `prom-client`'s own `inc()` and
 * `observe()` hash the label object on every call (and validate it); at tens of thousands of requests
 * per second that showed as the largest single cost of the balancer's own code in a CPU profile. Here a
 * caller keeps the cell of one label set and bumps its numbers; the labels are rendered only when
 * `prom-client` reads the metric (scrape, or the primary gathering its workers' JSON).
 *
 * Both classes implement what `Registry` needs of a metric (`name`, `help`, `type`, `aggregator`,
 * `get()`, `reset()`) and return values in the same shape as `prom-client`'s Counter and Histogram, so
 * `AggregatorRegistry.aggregate` sums them across workers like any other metric.
 */
import type { Metric, MetricValue, MetricValueWithName, Registry } from 'prom-client'

type Labels = Readonly<Record<string, string>>

/** One label set of a counter. */
export interface CounterCell {
  value: number
}

/** One label set of a histogram. */
export interface HistogramCell {
  /** Observations per bucket (not cumulative); the last entry is above the largest bound. */
  readonly counts: Float64Array
  sum: number
  count: number
}

/** Shape of what `prom-client` metrics return from `get()`. */
interface MetricJson {
  name: string
  help: string
  type: 'counter' | 'histogram'
  aggregator: 'sum'
  values: Array<MetricValue<string> | MetricValueWithName<string>>
}

abstract class CellMetric<C> {
  readonly aggregator = 'sum'
  protected readonly cells = new Map<string, { labels: Labels; cell: C }>()

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    // The registry only reads name, help, type, aggregator, get() and reset(): the structural subset.
    registry.registerMetric(this as unknown as Metric)
  }

  /** The cell of one label set, created at zero on first use. Callers cache it: this builds a key. */
  cell(labels: Labels): C {
    const key = JSON.stringify(labels)
    let entry = this.cells.get(key)
    if (entry === undefined) this.cells.set(key, (entry = { labels: { ...labels }, cell: this.create() }))
    return entry.cell
  }

  reset(): void {
    for (const { cell } of this.cells.values()) this.zero(cell)
  }

  /** Every label set with its cell, in creation order (for readers that need no `prom-client` JSON). */
  entries(): Iterable<{ readonly labels: Labels; readonly cell: C }> {
    return this.cells.values()
  }

  protected abstract create(): C
  protected abstract zero(cell: C): void
}

/** A counter of plain numbers: `cell.value++` on the hot path. */
export class CellCounter extends CellMetric<CounterCell> {
  readonly type = 'counter'

  async get(): Promise<MetricJson> {
    const values: MetricValue<string>[] = []
    for (const { labels, cell } of this.cells.values()) values.push({ labels: { ...labels }, value: cell.value })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  protected create(): CounterCell {
    return { value: 0 }
  }

  protected zero(cell: CounterCell): void {
    cell.value = 0
  }
}

/** A histogram with fixed upper bounds: {@link CellHistogram.observe} is a short scan and three increments. */
export class CellHistogram extends CellMetric<HistogramCell> {
  readonly type = 'histogram'

  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, registry)
  }

  observe(cell: HistogramCell, value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    cell.counts[i] = (cell.counts[i] as number) + 1
    cell.sum += value
    cell.count++
  }

  async get(): Promise<MetricJson> {
    const values: MetricValueWithName<string>[] = []
    const bucket = `${this.name}_bucket`
    for (const { labels, cell } of this.cells.values()) {
      let cumulative = 0
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += cell.counts[i] as number
        // `le` first, then the cell's labels: the order prom-client's own histogram renders.
        values.push({ metricName: bucket, labels: { le: this.bounds[i] as number, ...labels }, value: cumulative })
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', ...labels }, value: cell.count })
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: cell.sum })
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: cell.count })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  protected create(): HistogramCell {
    return { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }
  }

  protected zero(cell: HistogramCell): void {
    cell.counts.fill(0)
    cell.sum = 0
    cell.count = 0
  }
}
