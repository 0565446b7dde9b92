/**
 * Text output of `lb bench`: the final table of one run, the side-by-side table of `--compare`, and the
 * JSON documents of `--json`. Pure functions of the results; the caller decides where they go.
 */
import { formatCount } from './progress.js'
import type { LoadResult } from './run-load.js'

/** Renders rows as aligned columns; the first row is the header, underlined. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd()
  const [head, ...body] = rows
  if (head === undefined) return ''
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

function ms(n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ms`
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)} %`
}

function statusLine(codes: Record<string, number>): string {
  const entries = Object.entries(codes).sort(([a], [b]) => Number(a) - Number(b))
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code}: ${formatCount(n)}`).join(', ')
}

function errorLine(r: LoadResult): string {
  if (r.errors.total === 0) return '0'
  const codes = Object.entries(r.errors.byCode).map(([code, n]) => `${code} x${n}`).join(', ')
  return `${formatCount(r.errors.total)} (${codes}${r.errors.timeouts > 0 ? `; ${r.errors.timeouts} timeouts` : ''})`
}

/** The final table of one run, then the notes (generator bottleneck, rate not held). */
export function formatResult(r: LoadResult, title: string): string {
  const backendTotal = Object.values(r.backends).reduce((a, b) => a + b, 0)
  const rows: string[][] = [
    ['Metric', 'Value'],
    ['Requests/s', r.requests.perSecond.toFixed(1)],
    ['Requests', `${formatCount(r.requests.total)} answered, ${formatCount(r.requests.sent)} sent`],
    ['Latency p50', ms(r.latency.p50)],
    ['Latency p90', ms(r.latency.p90)],
    ['Latency p99', ms(r.latency.p99)],
    ['Latency max', ms(r.latency.max)],
    ['Errors', errorLine(r)],
    ['Non-2xx', formatCount(r.non2xx)],
    ['Status codes', statusLine(r.statusCodes)],
    ['Throughput', `${(r.throughputBytesPerSecond / 1024).toFixed(1)} KiB/s`],
  ]
  for (const [name, n] of Object.entries(r.backends).sort(([a], [b]) => a.localeCompare(b))) {
    rows.push([`x-backend ${name}`, `${formatCount(n)} (${percent(n, backendTotal)})`])
  }
  rows.push(['Generator CPU', `${r.generator.cpuPercent.toFixed(0)} % of one core`])
  const header = `${title}\n${r.method} ${r.url}, ${r.connections} connections, ${(r.durationMs / 1000).toFixed(1)} s${r.rate === undefined ? '' : `, rate cap ${r.rate}/s`}`
  return [header, '', renderTable(rows), ...notes(r)].join('\n')
}

function notes(r: LoadResult): string[] {
  const lines = [...r.generator.reasons.map((why) => `Note: the load generator is the bottleneck: ${why}.`), ...r.warnings.map((w) => `Note: ${w}.`)]
  return lines.length === 0 ? [] : ['', ...lines]
}

/** One column of a comparison: the algorithm and its run. */
export interface ComparedRun {
  algorithm: string
  result: LoadResult
}

/**
 * Side by side: requests/s, p50/p90/p99/max, errors, non-2xx, then each backend's share of the answers
 * (`labels` describe the backends: `backend-3 (50 ms)`), then the notes of every run.
 */
export function formatComparison(runs: readonly ComparedRun[], backendLabels: readonly { name: string; label: string }[]): string {
  const head = ['', ...runs.map((r) => r.algorithm)]
  const row = (name: string, cell: (r: LoadResult) => string): string[] => [name, ...runs.map((r) => cell(r.result))]
  const rows: string[][] = [
    head,
    row('requests/s', (r) => r.requests.perSecond.toFixed(0)),
    row('p50 latency', (r) => ms(r.latency.p50)),
    row('p90 latency', (r) => ms(r.latency.p90)),
    row('p99 latency', (r) => ms(r.latency.p99)),
    row('max latency', (r) => ms(r.latency.max)),
    row('errors', (r) => formatCount(r.errors.total)),
    row('non-2xx', (r) => formatCount(r.non2xx)),
  ]
  for (const b of backendLabels) {
    rows.push(row(`share ${b.label}`, (r) => percent(r.backends[b.name] ?? 0, Object.values(r.backends).reduce((x, y) => x + y, 0))))
  }
  rows.push(row('generator CPU', (r) => `${r.generator.cpuPercent.toFixed(0)} %`))
  const allNotes = runs.flatMap((r) => notes(r.result).filter((l) => l !== '').map((l) => `${r.algorithm}: ${l}`))
  return [renderTable(rows), ...(allNotes.length === 0 ? [] : ['', ...allNotes])].join('\n')
}

/** The `--json` document of one run. */
export function resultJson(r: LoadResult): Record<string, unknown> {
  return {
    target: r.url,
    method: r.method,
    connections: r.connections,
    rate: r.rate ?? null,
    durationMs: r.durationMs,
    requests: r.requests,
    latencyMs: r.latency,
    errors: r.errors,
    non2xx: r.non2xx,
    statusCodes: r.statusCodes,
    backends: r.backends,
    throughputBytesPerSecond: r.throughputBytesPerSecond,
    generator: r.generator,
    warnings: r.warnings,
  }
}
