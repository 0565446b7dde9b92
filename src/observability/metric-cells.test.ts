import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AggregatorRegistry, Counter, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import { CellCounter, CellHistogram } from './metric-cells.js'

const BOUNDS = [0.001, 0.01, 0.1, 1]
const SAMPLES = [0.0004, 0.001, 0.002, 0.05, 0.05, 0.7, 3, 12]

/** The same observations through prom-client's own classes: the reference output. */
async function reference(): Promise<string> {
  const registry = new Registry()
  const c = new Counter({ name: 'x_total', help: 'h', labelNames: ['pool', 'code'], registers: [registry] })
  const h = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['pool'], buckets: BOUNDS, registers: [registry] })
  c.inc({ pool: 'a', code: '200' }, 3)
  c.inc({ pool: 'b', code: '502' })
  for (const v of SAMPLES) h.observe({ pool: 'a' }, v)
  return registry.metrics()
}

function cells(registry: Registry): { counter: CellCounter; histogram: CellHistogram } {
  const counter = new CellCounter('x_total', 'h', registry)
  const histogram = new CellHistogram('x_seconds', 'h', registry, BOUNDS)
  counter.cell({ pool: 'a', code: '200' }).value += 3
  counter.cell({ pool: 'b', code: '502' }).value++
  const cell = histogram.cell({ pool: 'a' })
  for (const v of SAMPLES) histogram.observe(cell, v)
  return { counter, histogram }
}

test('cell counter and histogram render exactly what prom-client renders for the same observations', async () => {
  const registry = new Registry()
  cells(registry)
  assert.equal(await registry.metrics(), await reference())
})

test('a value equal to a bound falls in that bucket; above the last bound only in +Inf', async () => {
  const registry = new Registry()
  const h = new CellHistogram('y', 'h', registry, [1, 2])
  const cell = h.cell({})
  for (const v of [1, 2, 2.0001]) h.observe(cell, v)
  const text = await registry.metrics()
  assert.match(text, /^y_bucket\{le="1"\} 1$/m)
  assert.match(text, /^y_bucket\{le="2"\} 2$/m)
  assert.match(text, /^y_bucket\{le="\+Inf"\} 3$/m)
  assert.match(text, /^y_count 3$/m)
})

test('the same label set always returns the same cell; reset zeroes every cell', async () => {
  const registry = new Registry()
  const c = new CellCounter('z_total', 'h', registry)
  const a = c.cell({ k: '1' })
  assert.equal(c.cell({ k: '1' }), a)
  a.value = 5
  registry.resetMetrics()
  assert.equal(a.value, 0)
})

test('workers\' cells sum across registries like prom-client metrics (the primary aggregates JSON)', async () => {
  const workers = [new Registry(), new Registry()]
  for (const r of workers) cells(r)
  const jsons = (await Promise.all(workers.map((r) => r.getMetricsAsJSON()))) as MetricObjectWithValues<MetricValue<string>>[][]
  const merged = AggregatorRegistry.aggregate(jsons)
  const text = await merged.metrics()
  assert.match(text, /^x_total\{pool="a",code="200"\} 6$/m)
  assert.match(text, /^x_seconds_bucket\{le="0.01",pool="a"\} 6$/m)
  assert.match(text, /^x_seconds_count\{pool="a"\} 16$/m)
})
