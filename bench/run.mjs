#!/usr/bin/env node
// Benchmark harness: the balancer against nginx and HAProxy (and the backend hit directly), measured with wrk.
//
//   npm run bench                            # every target: direct, lb, nginx, haproxy
//   node bench/run.mjs --only lb,nginx       # a subset of targets
//   node bench/run.mjs --only grpc           # the gRPC unary row alone (grpc-direct, lb-grpc, nginx-grpc); --only h2c: lb-h2c, haproxy-h2c
//   node bench/run.mjs --duration 5s         # length of one measurement (env BENCH_DURATION), default 3s
//   node bench/run.mjs --lb-config FILE      # the balancer with a variant JSON config (listen/admin/backends replaced)
//   node bench/run.mjs --repeat 9            # rounds per scenario (default 5): targets interleaved, medians reported
//   node bench/run.mjs --json                # results as JSON on stdout (progress goes to stderr)
//
// Everything listens on 127.0.0.1 free ports; every process started here is stopped by PID at the end, also on
// errors and Ctrl-C. Plain ESM, node built-ins only. See bench/README.md.
//
// The pieces live in bench/lib/: util.mjs (helpers), processes.mjs (children, CPU accounting), targets.mjs
// (what is measured), runner.mjs (scenarios, wrk, rounds), report.mjs (tables, bars, RESULTS.md).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { BENCH_DIR, ROOT, UsageError, abort, findBin, httpGet, log, parseDurationS, versionOf } from './lib/util.mjs'
import { killAll, stopAll } from './lib/processes.mjs'
import { ALL_TARGETS, startBackend, startTarget } from './lib/targets.mjs'
import { H2C_TARGETS, TARGET_GROUPS, kindOf, startH2Target, startH2cBackend } from './lib/h2-targets.mjs'
import { runGrpcLoad, parseGrpcLoad } from './lib/grpc-runner.mjs'
import { SCENARIOS, ensureWrk, guarded, kindOfScenario, measureOnce, summarize, warmUp } from './lib/runner.mjs'
import { addedLatency, backendNotes, checkLine, computeChecks, errorsOf, fmtInt, fmtLat, keptHistory, renderMarkdown, scenarioRows, textTable } from './lib/report.mjs'

const HELP = `Usage: node bench/run.mjs [options]

Starts two sample backends, the balancer, nginx and HAProxy on free 127.0.0.1 ports, measures each with wrk
and writes bench/RESULTS.md. The HTTP/2 rows use two h2c backends: lb-h2c and haproxy-h2c (HTTP/1.1 in,
h2c to the backends, measured with wrk), and the gRPC unary row (grpc-direct, lb-grpc, nginx-grpc: nginx
grpc_pass) measured with bench/grpc-load.mjs (@grpc/grpc-js).

Options:
  --only LIST         comma-separated targets among ${ALL_TARGETS.join(', ')} (default: all);
                      groups: grpc = ${TARGET_GROUPS.grpc.join(',')}, h2c = ${TARGET_GROUPS.h2c.join(',')}
  --duration D        one measurement, e.g. 3s, 10s, 1m (default: $BENCH_DURATION or 3s)
  --warmup D          warm-up of each target before a scenario's rounds (default 2s)
  --repeat N          rounds per scenario (default 5); each round measures every target once, in a
                      rotating order; figures are medians over the rounds, ratios medians of per-round ratios
  --lb-config FILE    JSON config for the balancer; listen, admin port and every pool's backend URLs are replaced
  --lb-profile DIR    pass \`--profile DIR/<target>\` to the balancer (lb, lb-general): a V8 CPU profile of every worker
  --json              print the results as JSON on stdout instead of the table
  --out FILE          where to write the Markdown report (default bench/RESULTS.md; "-" = do not write)
  --keep-tmp          keep the temporary directory (generated configs, process logs)
  -h, --help          this help`

// ---------------------------------------------------------------------------------------------------------------
// Main

function repeatOpt(text) {
  if (text === undefined) return 5
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new UsageError(`--repeat: expected a whole number 1-20, got "${text}"`)
  return n
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      repeat: { type: 'string' },
      'lb-config': { type: 'string' },
      'lb-profile': { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      'keep-tmp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  const targets = values.only ? values.only.split(',').map((t) => t.trim()).filter(Boolean).flatMap((t) => TARGET_GROUPS[t] ?? [t]) : [...ALL_TARGETS]
  for (const t of targets) if (!ALL_TARGETS.includes(t)) throw new UsageError(`--only: unknown target "${t}" (expected ${ALL_TARGETS.join(', ')})`)
  const lbConfigFile = values['lb-config'] ? path.resolve(values['lb-config']) : null
  if (lbConfigFile) {
    try {
      JSON.parse(fs.readFileSync(lbConfigFile, 'utf8'))
    } catch (err) {
      throw new UsageError(`--lb-config ${lbConfigFile}: ${err.message} (a JSON file is expected)`)
    }
  }
  return {
    help: values.help,
    targets: ALL_TARGETS.filter((t) => targets.includes(t)),
    durationS: parseDurationS(values.duration ?? process.env.BENCH_DURATION ?? '3s', '--duration'),
    warmupS: values.warmup === undefined ? 2 : values.warmup === '0' ? 0 : parseDurationS(values.warmup, '--warmup'),
    repeat: repeatOpt(values.repeat),
    lbConfig: lbConfigFile,
    lbProfile: values['lb-profile'] ? path.resolve(values['lb-profile']) : null,
    json: values.json,
    out: values.out === '-' ? null : path.resolve(values.out ?? path.join(BENCH_DIR, 'RESULTS.md')),
    keepTmp: values['keep-tmp'],
  }
}

async function main() {
  let opts
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (err) {
    console.error(`bench: ${err.message}\n\n${HELP}`)
    return 2
  }
  if (opts.help) {
    console.log(HELP)
    return 0
  }

  const needsWrk = opts.targets.some((t) => kindOf(t) === 'http')
  const wrk = needsWrk ? ensureWrk() : null
  if (needsWrk && !wrk) {
    console.error('bench: wrk is required (apt-get install wrk)')
    return 1
  }
  const bins = { nginx: findBin('nginx'), haproxy: findBin('haproxy') }
  const targets = opts.targets.filter((t) => {
    const bin = t.startsWith('nginx') ? 'nginx' : t.startsWith('haproxy') ? 'haproxy' : null
    if (bin !== null && !bins[bin]) {
      log(`${t}: not installed, row skipped`)
      return false
    }
    return true
  })

  const cpuModel = (() => {
    try {
      return /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown'
    } catch {
      return os.cpus()[0]?.model ?? 'unknown'
    }
  })()
  const nproc = Number(spawnSync('nproc', [], { encoding: 'utf8' }).stdout?.trim()) || os.availableParallelism()
  const results = {
    date: new Date().toISOString(),
    machine: { nproc, cpuModel, memGiB: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()} ${os.arch()}` },
    versions: {
      node: process.version,
      nginx: versionOf(bins.nginx, ['-v'], /nginx\/(\S+)/),
      haproxy: versionOf(bins.haproxy, ['-v'], /HA-?Proxy version (\S+)/i),
      wrk: wrk ? versionOf(wrk, ['-v'], /wrk (\S+)/) : 'not used',
    },
    settings: { durationS: opts.durationS, warmupS: opts.warmupS, repeat: opts.repeat, lbConfig: opts.lbConfig ? path.relative(ROOT, opts.lbConfig) : null, scenarios: SCENARIOS },
    targets,
    scenarios: {},
    failures: {},
    addedLatency: [],
    checks: [],
    notes: [],
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-bench-'))
  const ctx = { tmp, wrk, bins, opts, backends: [], h2cBackends: [] }
  const started = {}
  try {
    log(`temp dir ${tmp}; ${opts.durationS} s per measurement, ${opts.warmupS} s warm-up; targets: ${targets.join(', ')}`)
    if (targets.some((t) => !H2C_TARGETS.includes(t))) {
      ctx.backends.push(await startBackend(1, tmp), await startBackend(2, tmp))
      log(`backends on ports ${ctx.backends.map((b) => b.port).join(', ')}`)
    }
    if (targets.some((t) => H2C_TARGETS.includes(t))) {
      ctx.h2cBackends.push(await startH2cBackend(1, tmp), await startH2cBackend(2, tmp))
      log(`h2c backends on ports ${ctx.h2cBackends.map((b) => b.port).join(', ')}`)
    }
    for (const t of targets) {
      try {
        started[t] = H2C_TARGETS.includes(t) ? await startH2Target(t, ctx) : await startTarget(t, ctx)
        await sanityCheck(t, started[t].port)
        if (started[t].note) results.notes.push(`${t}: ${started[t].note}`)
        log(`${t} ready on port ${started[t].port}`)
      } catch (err) {
        if (abort.signal.aborted) throw err
        results.failures[t] = err.message
        log(`${t} failed to start: ${err.message}`)
      }
    }
    // Rounds interleave the targets (in a rotating order), so that a slow spell of this shared machine
    // hits every target alike instead of whichever happened to be measured then.
    for (const sc of SCENARIOS) {
      const ofKind = targets.filter((t) => kindOf(t) === kindOfScenario(sc))
      if (ofKind.length === 0) continue
      results.scenarios[sc.id] ??= {}
      const live = ofKind.filter((t) => started[t])
      for (const t of ofKind) if (!started[t]) results.scenarios[sc.id][t] = { error: results.failures[t] ?? 'not started' }
      const runs = Object.fromEntries(live.map((t) => [t, []]))
      log(`${sc.title}: ${opts.warmupS} s warm-up each, then ${opts.repeat} round(s) of ${opts.durationS} s over ${live.join(', ')}`)
      for (const t of live) await guarded(results, sc, t, () => warmUp(ctx, started[t], sc))
      for (let round = 0; round < opts.repeat; round++) {
        for (let k = 0; k < live.length; k++) {
          const t = live[(k + round) % live.length]
          if (results.scenarios[sc.id][t]?.error) continue
          await guarded(results, sc, t, async () => {
            const r = await measureOnce(ctx, started[t], sc)
            runs[t].push(r)
            log(`${t}: ${sc.path} c=${sc.connections} round ${round + 1}: ${fmtInt(r.rps)} req/s, p50 ${fmtLat(r.p50us)}, p99 ${fmtLat(r.p99us)}, errors ${errorsOf(r)}, proxy CPU ${r.proxyCpuUsPerReq ?? '-'} us/req, CPU proxy ${r.cpu.proxy ?? '-'}% backends ${r.cpu.backends}% wrk ${r.cpu.wrk}% other ${r.cpu.other ?? '-'}%`)
          })
        }
      }
      for (const t of live) if (!results.scenarios[sc.id][t]?.error && runs[t].length > 0) results.scenarios[sc.id][t] = summarize(runs[t])
    }
  } finally {
    log('stopping every started process')
    await stopAll()
    if (opts.keepTmp) log(`kept ${tmp}`)
    else fs.rmSync(tmp, { recursive: true, force: true })
  }

  // Present the targets in the canonical order; the report and JSON reuse the same figures.
  results.addedLatency = addedLatency(results, targets)
  results.checks = computeChecks(results)
  results.notes.push(...backendNotes(results, targets))
  for (const [t, why] of Object.entries(results.failures)) results.notes.push(`${t} did not run: ${why.split('\n')[0]}`)
  const busy = []
  for (const sc of SCENARIOS) for (const t of targets) {
    const r = results.scenarios[sc.id]?.[t]
    if (r && !r.error && r.cpu.other !== null && r.cpu.other >= 25) busy.push(`${t} ${sc.id}: ${r.cpu.other}%`)
  }
  if (busy.length > 0) results.notes.push(`other processes used a noticeable share of the CPUs during some measurements (${busy.join(', ')}): those figures are noisier; rerun on a quiet machine.`)
  if (nproc <= 2) {
    results.notes.push(`${nproc} CPUs shared by wrk (2 threads), the proxy under test and the backends: absolute numbers are low and every target competes with the load generator; compare ratios, not absolutes.`)
  }

  if (opts.json) {
    console.log(JSON.stringify(results, null, 2))
  } else {
    console.log(`\n${results.machine.nproc} CPUs (${results.machine.cpuModel}); node ${results.versions.node}, nginx ${results.versions.nginx}, HAProxy ${results.versions.haproxy}, wrk ${results.versions.wrk}; ${opts.durationS} s per measurement\n`)
    for (const sc of SCENARIOS) {
      if (results.scenarios[sc.id] === undefined) continue
      console.log(`${sc.title}\n${textTable(scenarioRows(results, sc, targets))}\n`)
    }
    for (const a of results.addedLatency) console.log(`added p50 at 1 connection: ${a.target} ${a.addedP50us} us`)
    console.log('')
    for (const c of results.checks) console.log(checkLine(c))
    for (const n of results.notes) console.log(`note: ${n}`)
  }
  for (const c of results.checks) if (opts.json) log(checkLine(c))
  if (opts.out) {
    fs.writeFileSync(opts.out, renderMarkdown(results, targets) + keptHistory(opts.out))
    log(`wrote ${path.relative(process.cwd(), opts.out) || opts.out}`)
  }
  return 0
}
/** Before measuring: the target answers correctly (both paths with their sizes; a gRPC call with status OK). */
async function sanityCheck(t, port) {
  if (kindOf(t) === 'grpc') {
    const r = parseGrpcLoad((await runGrpcLoad({ port, connections: 1, concurrency: 1, seconds: 1 })).out)
    if (r.non2xx > 0) throw new Error(`${t}: ${r.non2xx} of ${r.requests} gRPC calls failed (${JSON.stringify(r.grpcCodes)})`)
    return
  }
  for (const [p, len] of [['/2b', 2], ['/16k', 16384]]) {
    const r = await httpGet(port, p, 3000)
    if (r.status !== 200 || r.length !== len) throw new Error(`${t}: GET ${p} answered ${r.status} with ${r.length} bytes, expected 200 with ${len}`)
  }
}

let signals = 0
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    signals++
    if (signals === 1) {
      log(`${sig}: stopping`)
      abort.abort()
    } else {
      killAll()
      process.exit(130)
    }
  })
}

main().then(
  (code) => {
    process.exitCode = abort.signal.aborted ? 130 : code
  },
  (err) => {
    if (!abort.signal.aborted) console.error(`bench: ${err.stack ?? err.message}`)
    process.exitCode = abort.signal.aborted ? 130 : 1
  },
)
