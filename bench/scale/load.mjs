// Throughput under wrk for the scale benchmark: interleaved rounds (the order of the targets rotates each
// round), medians over them, timeouts summed. Ratios are medians of per-round ratios, so a disturbed round
// moves both sides of its own ratio.
import { log, median } from '../lib/util.mjs'
import { parseWrk, runWrk } from '../lib/runner.mjs'
import { CLK_TCK, cpuTicks, processTable, processTree } from '../lib/processes.mjs'

/**
 * One wrk measurement: { rps, p99us, timeouts, errors, non2xx, cpuUsPerReq, backendCpuUsPerReq }. The CPU
 * time per request (the proxy's processes; the backends') holds up on a shared machine where req/s does not.
 */
export async function measure(ctx, target, connections, seconds) {
  const table = processTable()
  const proxyPids = processTree(target.proc.child.pid, table)
  const backendPids = ctx.backends.flatMap((b) => processTree(b.proc.child.pid, table))
  const proxy0 = cpuTicks(proxyPids)
  const back0 = cpuTicks(backendPids)
  const { out } = await runWrk(ctx.wrk, {
    port: target.port,
    path: target.request.path,
    headers: target.request.headers,
    connections,
    threads: 2,
    seconds,
    timeoutS: 10,
  })
  const r = parseWrk(out)
  const e = r.socketErrors
  const perReq = (ticks) => (r.requests ? Math.round(((ticks / CLK_TCK) * 1e6) / r.requests) : null)
  return {
    rps: r.rps,
    p99us: r.p99us,
    timeouts: e.timeout,
    errors: e.connect + e.read + e.write,
    non2xx: r.non2xx,
    cpuUsPerReq: perReq(cpuTicks(proxyPids) - proxy0),
    backendCpuUsPerReq: perReq(cpuTicks(backendPids) - back0),
  }
}

/**
 * Runs `rounds` rounds of every (connections, target) pair, targets interleaved within a round. A short
 * warm-up per pair precedes its first round (JIT, connection pools). Returns results[connections][target] =
 * { runs: [...] } and ratios against `baseline`.
 */
export async function interleaved(ctx, targets, connectionCounts, { rounds, seconds, warmupS }) {
  const results = {}
  for (const c of connectionCounts) {
    results[c] = {}
    for (const t of targets) results[c][t.name] = { runs: [] }
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of connectionCounts) {
      // Warm-up just before a count's first round (JIT, connection pools at that count), discarded.
      if (round === 0 && warmupS > 0) {
        for (const t of targets) await measure(ctx, t, c, warmupS).catch((err) => log(`${t.name}: warm-up at ${c}: ${err.message}`))
      }
      const order = targets.map((_, i) => targets[(i + round) % targets.length])
      for (const t of order) {
        try {
          const r = await measure(ctx, t, c, seconds)
          results[c][t.name].runs.push(r)
          log(`round ${round + 1}/${rounds} ${t.name} c=${c}: ${Math.round(r.rps)} req/s, CPU ${r.cpuUsPerReq} us/req (backends ${r.backendCpuUsPerReq}), p99 ${(r.p99us / 1000).toFixed(1)} ms, ${r.timeouts} timeouts, ${r.errors} errors`)
        } catch (err) {
          results[c][t.name].runs.push({ error: err.message })
          log(`round ${round + 1}/${rounds} ${t.name} c=${c}: ${err.message}`)
        }
      }
    }
  }
  return results
}

/** Median figures of one pair's runs; timeouts, errors and non-2xx summed over the rounds. */
export function summarizeRuns(runs) {
  const ok = runs.filter((r) => r.error === undefined)
  return {
    rps: median(ok.map((r) => r.rps)),
    cpuUsPerReq: median(ok.map((r) => r.cpuUsPerReq)),
    backendCpuUsPerReq: median(ok.map((r) => r.backendCpuUsPerReq)),
    p99us: median(ok.map((r) => r.p99us)),
    timeouts: ok.reduce((a, r) => a + r.timeouts, 0),
    errors: ok.reduce((a, r) => a + r.errors, 0),
    non2xx: ok.reduce((a, r) => a + r.non2xx, 0),
    rounds: ok.length,
    failed: runs.length - ok.length,
  }
}

/** Median over rounds of a / b for a figure (rounds where either failed are skipped). */
export function ratioOf(aRuns, bRuns, figure) {
  const xs = []
  for (let i = 0; i < Math.min(aRuns.length, bRuns.length); i++) {
    const a = aRuns[i][figure]
    const b = bRuns[i][figure]
    if (typeof a === 'number' && typeof b === 'number' && b > 0) xs.push(a / b)
  }
  return median(xs)
}
