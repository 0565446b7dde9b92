#!/usr/bin/env node
// Scale benchmark: how the balancer's cost grows with connections, WebSockets, endpoints and routes, against
// nginx with the same worker count, written to bench/SCALE.md.
//
//   npm run bench:scale                   # 3 rounds, 10 s wrk runs (about 12 minutes)
//   npm run bench:scale -- --quick        # 1 round, 3 s runs: checks that it works
//   npm run bench:scale -- --soak 30m     # adds a soak at half the measured peak, plotted to bench/scale-soak.svg
//
// Everything listens on 127.0.0.1 free ports; every process started here is stopped by PID at the end, also on
// errors and Ctrl-C. The 10 000-connection reading needs `ulimit -n` of at least about 11 000 (the holder
// process keeps every client socket); levels above the limit are skipped and say so.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { BENCH_DIR, UsageError, abort, findBin, log, parseDurationS, versionOf } from './lib/util.mjs'
import { killAll, procs, stopAll } from './lib/processes.mjs'
import { startBackend } from './lib/targets.mjs'
import { ensureWrk } from './lib/runner.mjs'
import { memoryRound, openFileLimit, summarizeMemory } from './scale/memory.mjs'
import { interleaved, summarizeRuns } from './scale/load.mjs'
import { reusePortAvailable, startLb, startNginx } from './scale/targets.mjs'
import { soak, soakSvg } from './scale/soak.mjs'
import { renderScale } from './scale/report.mjs'

const HELP = `Usage: node bench/scale.mjs [options]   (npm run bench:scale -- [options])

Memory per worker at idle and with 64 / 1 000 / 5 000 / 10 000 keep-alive connections and 1 000 WebSockets;
throughput, p99 and timeouts at 64 / 1 000 / 5 000 connections; 3 / 100 / 1 000 endpoints; 1 / 1 000 routes
(prefix, host, regex); the balancer and nginx (2 workers each) in the same run. Writes bench/SCALE.md.

Options:
  --rounds N        interleaved rounds (default 3; 1 with --quick)
  --duration D      one wrk run (default 10s; 3s with --quick)
  --quick           1 round, 3 s runs, 1 s settle: a check that everything works
  --only LIST       sections to run, comma-separated among memory, connections, endpoints, routes (default all)
  --soak D          afterwards, a soak of D (e.g. 30m) at half the 64-connection peak (RSS and heap each minute)
  --out FILE        report path (default bench/SCALE.md; "-" = do not write)
  -h, --help        this help`

const SECTIONS = ['memory', 'connections', 'endpoints', 'routes']

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      quick: { type: 'boolean', default: false },
      soak: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  if (values.help) return null
  const rounds = values.rounds === undefined ? (values.quick ? 1 : 3) : Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new UsageError(`--rounds: expected a whole number 1-20, got "${values.rounds}"`)
  const only = new Set((values.only ?? SECTIONS.join(',')).split(',').map((x) => x.trim()).filter(Boolean))
  for (const x of only) if (!SECTIONS.includes(x)) throw new UsageError(`--only: unknown section "${x}", expected some of ${SECTIONS.join(', ')}`)
  return {
    only,
    quick: values.quick,
    rounds,
    seconds: parseDurationS(values.duration ?? (values.quick ? '3s' : '10s'), '--duration'),
    warmupS: values.quick ? 1 : 3,
    settleMs: values.quick ? 1000 : 3000,
    soakMin: values.soak === undefined ? 0 : Math.max(1, Math.round(parseDurationS(values.soak, '--soak') / 60)),
    out: values.out === '-' ? null : path.resolve(values.out ?? path.join(BENCH_DIR, 'SCALE.md')),
  }
}

/** Stops one target started by this script, by PID, and forgets it. */
async function stopTarget(t) {
  t.proc.child.kill('SIGTERM')
  await Promise.race([t.proc.exited, new Promise((r) => setTimeout(r, 15_000))])
  if (t.proc.child.exitCode === null && t.proc.child.signalCode === null) t.proc.child.kill('SIGKILL')
  await t.proc.exited
  procs.splice(procs.indexOf(t.proc), 1)
}

const named = (t, name) => ({ ...t, name })

async function main(opts) {
  const started = Date.now()
  const wrk = ensureWrk()
  if (!wrk) throw new Error('wrk is required (apt-get install wrk)')
  const bins = { nginx: findBin('nginx') }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-scale-'))
  const loadBefore = os.loadavg()[0]
  const backends = []
  for (let i = 1; i <= 3; i++) backends.push(await startBackend(i, tmp))
  const ctx = { tmp, backends, wrk }
  const run = { rounds: opts.rounds, seconds: opts.seconds, warmupS: opts.warmupS }

  // Memory: fresh processes per round, the balancer's and nginx's rounds alternating.
  let memory = null
  if (opts.only.has('memory')) {
    const maxConnections = openFileLimit() - 500
    const memRounds = { lb: [], nginx: [] }
    for (let round = 0; round < opts.rounds; round++) {
      memRounds.lb.push(await memoryRound(() => startLb('lb', {}, ctx), stopTarget, { settleMs: opts.settleMs, maxConnections }))
      if (bins.nginx) memRounds.nginx.push(await memoryRound(() => startNginx(bins.nginx, ctx), stopTarget, { settleMs: opts.settleMs, maxConnections }))
    }
    memory = { lb: summarizeMemory(memRounds.lb), nginx: bins.nginx ? summarizeMemory(memRounds.nginx) : null }
  }

  const lb = await startLb('lb', {}, ctx)
  // Many connections, against nginx.
  let connections = null
  if (opts.only.has('connections') || opts.soakMin > 0) {
    const nginx = await startNginx(bins.nginx, ctx)
    // listen.reusePort where this Node has it (22.12+): the kernel spreads connections over the workers.
    const reuse = (await reusePortAvailable()) ? await startLb('lb-reuseport', { reusePort: true }, ctx) : null
    connections = await interleaved(ctx, [lb, ...(reuse ? [reuse] : []), nginx], [64, 1000, 5000], run)
    if (reuse) await stopTarget(reuse)
    await stopTarget(nginx)
  }

  // Endpoints: the same three backends behind 3, 100 and 1 000 endpoints.
  let endpoints = null
  if (opts.only.has('endpoints')) {
    const e100 = await startLb('endpoints-100', { endpoints: 100 }, ctx)
    const e1000 = await startLb('endpoints-1000', { endpoints: 1000 }, ctx)
    endpoints = await interleaved(ctx, [named(lb, 'endpoints-3'), e100, e1000], [64], run)
    await stopTarget(e100)
    await stopTarget(e1000)
  }

  // Routes: one route against 1 000 of each kind, the request matching the last.
  let routes = null
  if (opts.only.has('routes')) {
    const variants = [['routes-1', { kind: 'prefix', count: 1 }], ['prefix-1000', { kind: 'prefix', count: 1000 }], ['host-1000', { kind: 'host', count: 1000 }], ['regex-1000', { kind: 'regex', count: 1000 }]]
    const routeTargets = []
    for (const [name, r] of variants) routeTargets.push(await startLb(name, { routes: r }, ctx))
    routes = await interleaved(ctx, routeTargets, [64], run)
    for (const t of routeTargets) await stopTarget(t)
  }

  let soakResult = null
  if (opts.soakMin > 0) {
    const peak = summarizeRuns(connections[64].lb.runs).rps ?? 1000
    soakResult = await soak(lb, { minutes: opts.soakMin, rate: peak / 2 })
  }
  await stopTarget(lb)

  const loadAfter = os.loadavg()[0]
  const cpus = os.cpus()
  const result = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    settings: { quick: opts.quick, rounds: opts.rounds, seconds: opts.seconds },
    loadBefore: loadBefore.toFixed(2),
    loadAfter: loadAfter.toFixed(2),
    disturbed: Math.max(loadBefore, loadAfter) > cpus.length * 0.5,
    machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release() },
    versions: { node: process.versions.node, nginx: versionOf(bins.nginx, ['-v'], /nginx\/(\S+)/), wrk: versionOf(wrk, ['-v'], /wrk (\S+)/) },
    elapsedMin: (Date.now() - started) / 60_000,
    memory,
    connections,
    endpoints,
    routes,
    soak: soakResult,
  }
  const md = renderScale(result)
  if (opts.out) {
    fs.writeFileSync(opts.out, md)
    fs.writeFileSync(opts.out.replace(/\.md$/, '.json'), `${JSON.stringify(result, null, 2)}\n`)
    if (soakResult) fs.writeFileSync(path.join(path.dirname(opts.out), 'scale-soak.svg'), soakSvg(soakResult))
    log(`wrote ${path.relative(process.cwd(), opts.out)}`)
  } else process.stdout.write(md)
  fs.rmSync(tmp, { recursive: true, force: true })
}

let opts
try {
  opts = parseOptions(process.argv.slice(2))
} catch (err) {
  process.stderr.write(`bench:scale: ${err.message}\n`)
  process.exit(2)
}
if (opts === null) {
  process.stdout.write(`${HELP}\n`)
  process.exit(0)
}
let interrupts = 0
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    interrupts++
    abort.abort()
    if (interrupts > 1) killAll()
  })
}
main(opts)
  .then(() => stopAll())
  .catch(async (err) => {
    log(err.stack ?? err.message)
    await stopAll()
    process.exitCode = 1
  })
