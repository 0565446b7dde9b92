// The report: the text and Markdown tables, the project's bars (checks), added latency, notes, and the
// kept history of an existing report.
import fs from 'node:fs'
import { median } from './util.mjs'
import { SCENARIOS } from './runner.mjs'

/**
 * A comparison of two targets measured in the same rounds: `f(a round) op f(b round)` per round, then
 * the median and the range. Pairing rounds cancels most of this shared machine's drift, which moves
 * both targets of a round together; comparing medians of separately measured figures would not.
 */
export function paired(a, b, f) {
  const n = Math.min(a.runs?.length ?? 0, b.runs?.length ?? 0)
  const xs = []
  for (let i = 0; i < n; i++) xs.push(f(a.runs[i], b.runs[i]))
  if (xs.length === 0) xs.push(f(a, b))
  const sorted = [...xs].sort((x, y) => x - y)
  return { median: median(xs), min: sorted[0], max: sorted[sorted.length - 1], rounds: xs.length }
}
export const pairedRatio = (a, b, key) => paired(a, b, (x, y) => x[key] / y[key])
export const pairedDiff = (a, b, key) => paired(a, b, (x, y) => x[key] - y[key])
export const spread = (p, fmt) => (p.rounds > 1 ? `; ${p.rounds} rounds ${fmt(p.min)}..${fmt(p.max)}` : '')


export const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
export function fmtLat(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return '-'
  if (us < 1000) return `${Math.round(us)} us`
  if (us < 1e6) return `${(us / 1000).toFixed(2)} ms`
  return `${(us / 1e6).toFixed(2)} s`
}
export const ratio = (a, b) => (a === null || a === undefined || !b ? '-' : `${(a / b).toFixed(2)}x`)
export const errorsOf = (r) => r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout + r.non2xx

export function scenarioRows(results, sc, targets) {
  const rows = []
  const byT = results.scenarios[sc.id] ?? {}
  // The references of the scenario: the backend hit directly and nginx (for gRPC: grpc-direct, nginx-grpc).
  const dt = byT[sc.direct ?? 'direct']
  const nt = byT[sc.nginx ?? 'nginx']
  const d = dt && !dt.error ? dt : null
  const n = nt && !nt.error ? nt : null
  for (const t of targets) {
    const r = byT[t]
    if (!r) continue
    if (r.error) {
      rows.push([t, `failed: ${r.error.split('\n')[0]}`])
      continue
    }
    rows.push([
      t,
      fmtInt(r.rps),
      ratio(r.rps, d?.rps),
      ratio(r.rps, n?.rps),
      fmtLat(r.p50us),
      ratio(r.p50us, d?.p50us),
      ratio(r.p50us, n?.p50us),
      fmtLat(r.p99us),
      ratio(r.p99us, d?.p99us),
      ratio(r.p99us, n?.p99us),
      String(errorsOf(r)),
      `${r.cpu.proxy ?? '-'} / ${r.cpu.backends} / ${r.cpu.wrk} / ${r.cpu.other ?? '-'}`,
      r.proxyCpuUsPerReq === null || r.proxyCpuUsPerReq === undefined ? '-' : String(r.proxyCpuUsPerReq),
    ])
  }
  return rows
}

export const HEADER = ['target', 'req/s', 'vs direct', 'vs nginx', 'p50', 'vs direct', 'vs nginx', 'p99', 'vs direct', 'vs nginx', 'errors', 'CPU % proxy / backends / wrk / other', 'proxy CPU us/req']

export function textTable(rows) {
  const all = [HEADER, ...rows]
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => (r.length === 2 && i > 0 ? 0 : String(r[i] ?? '').length))))
  const line = (r) => (r.length === 2 ? `${r[0].padEnd(widths[0])}  ${r[1]}` : r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '))
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function mdTable(rows) {
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`]
  for (const r of rows) out.push(r.length === 2 ? `| ${r[0]} | ${r[1].replace(/\|/g, '\\|')} |${' |'.repeat(HEADER.length - 2)}` : `| ${r.join(' | ')} |`)
  return out.join('\n')
}

/** A latency bar: `lb` adds at most `maxUs` to `direct`'s p50, judged on the median of the per-round differences. */
function addedP50Bar(name, lb, direct, maxUs, us) {
  if (!lb || !direct) return { name, pass: null, detail: `not measured (${!lb ? 'lb' : 'direct'} missing)` }
  const p = pairedDiff(lb, direct, 'p50us')
  return { name, pass: p.median <= maxUs, detail: `lb p50 ${fmtLat(lb.p50us)}, direct p50 ${fmtLat(direct.p50us)}; per-round difference median ${us(p.median)}${spread(p, us)}` }
}

/**
 * The fast path's bar: with every feature on, >= 0.7x nginx at 2 B and >= 0.9x at 16 KiB (64 connections),
 * <= +50 us added p50 at one connection, and proxy CPU per request within 1.3x of the feature-less
 * `floor-splice` probe in the same rounds (at 64 connections, both sizes).
 */
function fastPathBar(get, rpsBar, x, us) {
  const out = []
  out.push(rpsBar('fast-path bar: lb >= 0.7x nginx req/s at 64 conns, 2 B', get('c64-2b', 'lb'), get('c64-2b', 'nginx'), 0.7, ['lb', 'nginx']))
  out.push(rpsBar('fast-path bar: lb >= 0.9x nginx req/s at 64 conns, 16 KiB', get('c64-16k', 'lb'), get('c64-16k', 'nginx'), 0.9, ['lb', 'nginx']))
  out.push(addedP50Bar('fast-path bar: lb adds <= 50 us to direct p50 at 1 conn', get('c1-2b', 'lb'), get('c1-2b', 'direct'), 50, us))
  for (const [sc, size] of [['c64-2b', '2 B'], ['c64-16k', '16 KiB']]) {
    const name = `fast-path bar: lb CPU per request <= 1.3x floor-splice's, 64 conns, ${size}`
    const lb = get(sc, 'lb')
    const floor = get(sc, 'floor-splice')
    if (!lb || !floor || !lb.proxyCpuUsPerReq || !floor.proxyCpuUsPerReq) {
      out.push({ name, pass: null, detail: 'not measured (lb or floor-splice missing)' })
      continue
    }
    const p = pairedRatio(lb, floor, 'proxyCpuUsPerReq')
    out.push({ name, pass: p.median <= 1.3, detail: `lb ${lb.proxyCpuUsPerReq} us, floor-splice ${floor.proxyCpuUsPerReq} us; per-round ratio median ${x(p.median)}${spread(p, x)}` })
  }
  return out
}

export function computeChecks(results) {
  const get = (sc, t) => {
    const r = results.scenarios[sc]?.[t]
    return r && !r.error ? r : null
  }
  const x = (n) => `${n.toFixed(2)}x`
  const us = (n) => `${Math.round(n)} us`
  /** A throughput bar: `a` reaches at least `min` times `b`, judged on the median of the per-round ratios. */
  const rpsBar = (name, a, b, min, label) => {
    if (!a || !b) return { name, pass: null, detail: `not measured (${!a ? label[0] : label[1]} missing)` }
    const p = pairedRatio(a, b, 'rps')
    return { name, pass: p.median >= min, detail: `${label[0]} ${fmtInt(a.rps)} req/s, ${label[1]} ${fmtInt(b.rps)} req/s; per-round ratio median ${x(p.median)}${spread(p, x)}` }
  }
  const checks = []
  const lb64 = get('c64-2b', 'lb')
  const ng64 = get('c64-2b', 'nginx')
  checks.push(rpsBar('lb >= 0.5x nginx req/s at 64 conns, 2 B', lb64, ng64, 0.5, ['lb', 'nginx']))
  const d1 = get('c1-2b', 'direct')
  checks.push(addedP50Bar('lb adds <= 120 us to direct p50 at 1 conn', get('c1-2b', 'lb'), d1, 120, us))
  const redis64 = get('c64-2b', 'lb-redis')
  if (redis64 && lb64) checks.push(rpsBar('lb with Redis state >= 0.95x lb with memory state, 64 conns, 2 B', redis64, lb64, 0.95, ['lb-redis', 'lb']))
  const quiet64 = get('c64-2b', 'lb-quiet')
  const observed64 = get('c64-2b', 'lb-observed')
  if (quiet64 && observed64) checks.push(rpsBar('metrics + access log to a file cost <= 15 % of throughput (64 conns, 2 B)', observed64, quiet64, 0.85, ['lb-observed', 'lb-quiet']))
  checks.push(...fastPathBar(get, rpsBar, x, us))
  // Context for the two bars: what a featureless Node proxy reaches on the same machine in the same run.
  const bare64 = get('c64-2b', 'bare-node')
  const bare1 = get('c1-2b', 'bare-node')
  if (bare64 && ng64 && lb64) {
    const vsNginx = pairedRatio(bare64, ng64, 'rps')
    const lbVsBare = pairedRatio(lb64, bare64, 'rps')
    checks.push({ name: 'info: bare Node proxy vs nginx, 64 conns, 2 B', pass: null, detail: `bare = ${x(vsNginx.median)} nginx${spread(vsNginx, x)}; lb = ${x(lbVsBare.median)} bare${spread(lbVsBare, x)} (per-round medians)` })
  }
  if (bare1 && d1) {
    const p = pairedDiff(bare1, d1, 'p50us')
    checks.push({ name: 'info: bare Node proxy added p50 at 1 conn', pass: null, detail: `per-round median ${us(p.median)}${spread(p, us)}` })
  }
  return checks
}

export const checkLine = (c) => `${c.pass === null ? (c.name.startsWith('info:') ? 'INFO' : 'SKIP') : c.pass ? 'PASS' : 'FAIL'}  ${c.name.replace(/^info: /, '')}  (${c.detail})`

export function addedLatency(results, targets) {
  const sc = results.scenarios['c1-2b'] ?? {}
  const d = sc.direct && !sc.direct.error ? sc.direct : null
  const out = []
  for (const t of targets) {
    if (t === 'direct') continue
    const r = sc[t]
    if (!r || r.error || !d) continue
    // p50 only: a difference of p99s on a shared machine is mostly scheduling noise (it can even be negative).
    // The median of the per-round differences (targets are interleaved round by round).
    out.push({ target: t, addedP50us: Math.round(pairedDiff(r, d, 'p50us').median) })
  }
  return out
}

/** Notes on whether the backends could be the bottleneck, from the measured CPU and rates. */
export function backendNotes(results, targets) {
  const notes = []
  for (const sc of SCENARIOS.filter((s) => s.connections > 1 && s.kind === undefined)) {
    const byT = results.scenarios[sc.id] ?? {}
    const d = byT.direct && !byT.direct.error ? byT.direct : null
    const proxies = targets.filter((t) => t !== 'direct' && byT[t] && !byT[t].error)
    if (!d || proxies.length === 0) continue
    const best = proxies.reduce((a, b) => (byT[a].rps >= byT[b].rps ? a : b))
    const perBackend = byT[best].rps / 2
    notes.push(
      `${sc.path}: one backend alone served ${fmtInt(d.rps)} req/s (backend CPU ${d.cpu.backends}%, wrk ${d.cpu.wrk}%); ` +
        `the fastest proxy (${best}) sent ${fmtInt(perBackend)} req/s to each of the 2 backends ` +
        `(${(perBackend / d.rps).toFixed(2)}x of what one backend sustains; backends CPU ${byT[best].cpu.backends}% together) -> ` +
        (perBackend < 0.8 * d.rps ? 'the backends were not the limit.' : 'the backends may be close to their limit.'),
    )
  }
  return notes
}

export function renderMarkdown(results, targets) {
  const s = results.settings
  const lines = []
  lines.push('# Benchmark results', '')
  lines.push('Generated by `npm run bench` (bench/run.mjs); what is measured and the caveats: bench/README.md.', '')
  lines.push('## Usage', '')
  lines.push('```sh')
  lines.push('npm run build                            # the balancer row runs dist/cli.js')
  lines.push('npm run bench                            # every target, 5 interleaved rounds of 3 s (~8 min)')
  lines.push('node bench/run.mjs --only lb,nginx       # a subset of targets')
  lines.push('node bench/run.mjs --duration 5s         # longer measurements (or BENCH_DURATION=5s)')
  lines.push('node bench/run.mjs --lb-config FILE      # the balancer with a variant JSON config')
  lines.push('node bench/run.mjs --repeat 9            # 9 interleaved rounds instead of 5')
  lines.push('node bench/run.mjs --lb-profile DIR      # also a V8 CPU profile of every balancer worker')
  lines.push('node bench/run.mjs --json                # results as JSON on stdout')
  lines.push('```', '')
  lines.push('## This run', '')
  lines.push(`- Date: ${results.date}`)
  lines.push(`- Machine: ${results.machine.nproc} CPUs (nproc), ${results.machine.cpuModel}, ${results.machine.memGiB} GiB RAM, ${results.machine.os}`)
  lines.push(`- Versions: node ${results.versions.node}, nginx ${results.versions.nginx}, HAProxy ${results.versions.haproxy}, wrk ${results.versions.wrk}`)
  lines.push(`- Settings: per scenario a ${s.warmupS} s warm-up of each target, then ${s.repeat} round(s); a round measures every target once for ${s.durationS} s with wrk (\`--latency\`, \`--timeout 5s\`), in an order that rotates from round to round; figures are medians over the rounds, ratios in the bars medians of the per-round ratios; targets: ${targets.join(', ')}`)
  lines.push(`- Backends: 2 × \`bench/backend.mjs\` (one node:http process each, keep-alive); \`direct\` = wrk against backend 1 alone`)
  lines.push(`- lb: \`node dist/cli.js start\`, ${s.lbConfig ? `variant config \`${s.lbConfig}\` (listen/admin/backends replaced)` : '2 workers, round-robin, access log off (as nginx), defaults otherwise (the fast path, active and passive health checks, breakers, metrics on)'}`)
  lines.push('- nginx: `worker_processes 2`, upstream `keepalive 64`, `proxy_http_version 1.1`, `Connection ""`, access log off, `keepalive_requests 1000000`')
  lines.push('- HAProxy: `nbthread 2`, `mode http`, `balance roundrobin`, `http-reuse always`, no logging')
  lines.push('- proxy CPU us/req: CPU time of the proxy (all its processes/threads) during the measurement / requests served')
  lines.push(`- CPU %: CPU time used during the measurement / wall time (100 = one core, ${results.machine.nproc * 100} = the whole machine); "proxy" includes its workers; "other" = the rest of the machine's busy time (other processes, this script)`)
  lines.push('')
  lines.push('## Results', '')
  for (const sc of SCENARIOS) {
    if (results.scenarios[sc.id] === undefined) continue
    lines.push(`### ${sc.title}`, '')
    lines.push(mdTable(scenarioRows(results, sc, targets)), '')
  }
  lines.push('### Added latency at 1 connection (p50 of target - p50 of direct)', '')
  if (results.addedLatency.length === 0) lines.push('- not measured (needs `direct` and a proxy)')
  for (const a of results.addedLatency) lines.push(`- ${a.target}: ${a.addedP50us} us`)
  lines.push('', '### Project bar', '')
  for (const c of results.checks) lines.push(`- ${checkLine(c)}`)
  lines.push('', '### Notes', '')
  for (const n of results.notes) lines.push(`- ${n}`)
  lines.push('')
  return lines.join('\n')
}

/**
 * The hand-kept `## Across runs` section at the end of an existing report (a table of earlier runs):
 * a new run rewrites everything above it and keeps it.
 */
export function keptHistory(file) {
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return ''
  }
  const at = text.indexOf('\n## Across runs')
  return at === -1 ? '' : text.slice(at)
}
