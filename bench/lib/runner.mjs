// The runner: scenarios, wrk runs (parsed), warm-ups, one measurement with the CPU it cost, and the
// summary of a target's rounds.
import { spawn, spawnSync } from 'node:child_process'
import { HOST, abort, findBin, log, median } from './util.mjs'
import { CLK_TCK, cpuTicks, failure, isRunning, machineBusyTicks, processTable, processTree, readStat, signal } from './processes.mjs'
import { parseGrpcLoad, runGrpcLoad } from './grpc-runner.mjs'
import { H2C_TARGETS } from './h2-targets.mjs'

export const SCENARIOS = [
  { id: 'c64-2b', title: '64 connections, 2 threads, GET /2b', connections: 64, threads: 2, path: '/2b' },
  { id: 'c64-16k', title: '64 connections, 2 threads, GET /16k', connections: 64, threads: 2, path: '/16k' },
  { id: 'c1-2b', title: '1 connection, 1 thread, GET /2b', connections: 1, threads: 1, path: '/2b' },
  // gRPC over HTTP/2 end to end: measured with bench/grpc-load.mjs (@grpc/grpc-js), compared with nginx grpc_pass.
  { id: 'grpc-unary', kind: 'grpc', title: 'gRPC unary, 4 connections x 16 calls in flight, 2 B messages', connections: 4, concurrency: 16, path: '/bench.Echo/Unary', direct: 'grpc-direct', nginx: 'nginx-grpc' },
]

/** The scenario's kind: `http` (wrk) unless it says otherwise. */
export const kindOfScenario = (sc) => sc.kind ?? 'http'


export function ensureWrk() {
  let wrk = findBin('wrk')
  if (wrk) return wrk
  log('wrk not found: trying `apt-get install -y wrk`')
  const r = spawnSync('apt-get', ['install', '-y', 'wrk'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 300_000,
  })
  if (r.error || r.status !== 0) log(`apt-get install -y wrk failed (${r.error?.message ?? `exit ${r.status}`}); ignored`)
  wrk = findBin('wrk')
  return wrk
}

/** wrk time ("620.00us", "1.23ms", "2.00s", "1.00m") -> microseconds. */
export function toMicros(value, unit) {
  const n = Number(value)
  return unit === 'us' ? n : unit === 'ms' ? n * 1e3 : unit === 's' ? n * 1e6 : unit === 'm' ? n * 60e6 : unit === 'h' ? n * 3600e6 : NaN
}

export function parseWrk(out) {
  const pct = {}
  for (const m of out.matchAll(/^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/gm)) pct[m[1]] = toMicros(m[2], m[3])
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  if (!rps || pct['50'] === undefined) throw new Error(`could not parse wrk output:\n${out}`)
  return {
    rps: Number(rps[1]),
    requests: total ? Number(total[1]) : null,
    p50us: pct['50'],
    p75us: pct['75'] ?? null,
    p90us: pct['90'] ?? null,
    p99us: pct['99'] ?? null,
    socketErrors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  }
}

/** Runs wrk once; returns { out, wrkTicks } (wrkTicks = CPU ticks of wrk, sampled until it exits). */
export function runWrk(wrk, { port, path: urlPath, connections, threads, seconds }) {
  return new Promise((resolve, reject) => {
    const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', '--latency', `http://${HOST}:${port}${urlPath}`]
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let wrkTicks = 0
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    const sampler = setInterval(() => {
      const st = child.pid === undefined ? null : readStat(child.pid)
      if (st) wrkTicks = st.ticks
    }, 200)
    const hardStop = setTimeout(() => signal(child.pid, 'SIGKILL'), (seconds + 30) * 1000)
    const onAbort = () => signal(child.pid, 'SIGKILL')
    abort.signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', (e) => {
      clearInterval(sampler)
      clearTimeout(hardStop)
      reject(e)
    })
    child.on('close', (code, sig) => {
      clearInterval(sampler)
      clearTimeout(hardStop)
      abort.signal.removeEventListener('abort', onAbort)
      if (abort.signal.aborted) return reject(new Error('aborted'))
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} failed (${code ?? sig}): ${err || out}`))
      resolve({ out, wrkTicks })
    })
  })
}


/** The wrk load of one scenario against one target. */
export const loadOf = (target, sc) => ({ port: target.port, path: sc.path, connections: sc.connections, threads: sc.threads })

/** Warm-up: fills connection pools, JIT, CPU frequency; discarded. */
export async function warmUp(ctx, target, sc) {
  if (ctx.opts.warmupS > 0) await runLoad(ctx, target, sc, ctx.opts.warmupS)
}

/** One load run of the scenario's kind: wrk, or the gRPC load loop. */
function runLoad(ctx, target, sc, seconds) {
  if (kindOfScenario(sc) === 'grpc') return runGrpcLoad({ port: target.port, connections: sc.connections, concurrency: sc.concurrency, seconds })
  return runWrk(ctx.wrk, { ...loadOf(target, sc), seconds })
}

/** One figure set from a target's rounds: every figure the median over them (errors: the sum). */
export function summarize(runs) {
  if (runs.length === 1) return { ...runs[0], runs }
  const m = (f) => median(runs.map(f))
  return {
    rps: m((r) => r.rps),
    requests: runs.reduce((a, r) => a + (r.requests ?? 0), 0),
    p50us: m((r) => r.p50us),
    p75us: m((r) => r.p75us),
    p90us: m((r) => r.p90us),
    p99us: m((r) => r.p99us),
    socketErrors: Object.fromEntries(['connect', 'read', 'write', 'timeout'].map((k) => [k, runs.reduce((a, r) => a + r.socketErrors[k], 0)])),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    proxyCpuUsPerReq: m((r) => r.proxyCpuUsPerReq),
    cpu: { proxy: m((r) => r.cpu.proxy), backends: m((r) => r.cpu.backends), wrk: m((r) => r.cpu.wrk), other: m((r) => r.cpu.other) },
    runs,
  }
}

export async function measureOnce(ctx, target, sc) {
  const { opts } = ctx
  const backends = H2C_TARGETS.includes(target.name) ? ctx.h2cBackends : ctx.backends
  const table = processTable()
  const proxyPids = target.proc ? processTree(target.proc.child.pid, table) : []
  const backendPids = backends.flatMap((b) => processTree(b.proc.child.pid, table))
  const t0 = process.hrtime.bigint()
  const proxy0 = cpuTicks(proxyPids)
  const back0 = cpuTicks(backendPids)
  const busy0 = machineBusyTicks()
  const { out, wrkTicks } = await runLoad(ctx, target, sc, opts.durationS)
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  const pct = (ticks) => Math.round((ticks / CLK_TCK / wall) * 100)
  const busy1 = machineBusyTicks()
  const r = kindOfScenario(sc) === 'grpc' ? parseGrpcLoad(out) : parseWrk(out)
  const proxyTicks = target.proc ? cpuTicks(proxyPids) - proxy0 : null
  r.cpu = {
    proxy: proxyTicks === null ? null : pct(proxyTicks),
    backends: pct(cpuTicks(backendPids) - back0),
    wrk: pct(wrkTicks),
  }
  // CPU time the proxy spent per request: what limits throughput when the cores are shared.
  r.proxyCpuUsPerReq = proxyTicks === null || !r.requests ? null : Math.round(((proxyTicks / CLK_TCK) * 1e6) / r.requests)
  // Everything else the machine did meanwhile (other processes, kernel softirq not charged to ours, this script).
  r.cpu.other = busy0 === null || busy1 === null ? null : Math.max(0, pct(busy1 - busy0) - (r.cpu.proxy ?? 0) - r.cpu.backends - r.cpu.wrk)
  if (target.proc && !isRunning(target.proc)) throw failure(target.proc, 'exited during the measurement')
  return r
}

/** Runs one step of a target's measurement; a failure marks that target failed for the scenario. */
export async function guarded(results, sc, t, step) {
  try {
    await step()
  } catch (err) {
    if (abort.signal.aborted) throw err
    results.scenarios[sc.id][t] = { error: err.message }
    log(`${t}: ${sc.title} failed: ${err.message}`)
  }
}
