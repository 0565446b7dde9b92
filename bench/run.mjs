#!/usr/bin/env node
// Benchmark harness: the balancer against nginx and HAProxy (and the backend hit directly), measured with wrk.
//
//   npm run bench                            # every target: direct, lb, nginx, haproxy
//   node bench/run.mjs --only lb,nginx       # a subset of targets
//   node bench/run.mjs --duration 5s         # length of one measurement (env BENCH_DURATION), default 3s
//   node bench/run.mjs --lb-config FILE      # the balancer with a variant JSON config (listen/admin/backends replaced)
//   node bench/run.mjs --repeat 9            # rounds per scenario (default 5): targets interleaved, medians reported
//   node bench/run.mjs --json                # results as JSON on stdout (progress goes to stderr)
//
// Everything listens on 127.0.0.1 free ports; every process started here is stopped by PID at the end, also on
// errors and Ctrl-C. Plain ESM, node built-ins only. See bench/README.md.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(BENCH_DIR, '..')
const ALL_TARGETS = ['direct', 'lb', 'lb-redis', 'lb-quiet', 'lb-observed', 'bare-node', 'nginx', 'haproxy']
/** Balancer variants: the default configuration with these `log` settings (issue: observability must cost <= 15 %). */
const LB_VARIANTS = {
  'lb-quiet': { note: 'metrics off, access log off', log: { accessLog: false, metrics: false } },
  'lb-observed': { note: 'metrics on, access log to a file', log: { accessLog: true, metrics: true } },
}
const HOST = '127.0.0.1'

const HELP = `Usage: node bench/run.mjs [options]

Starts two sample backends, the balancer, nginx and HAProxy on free 127.0.0.1 ports, measures each with wrk
and writes bench/RESULTS.md.

Options:
  --only LIST         comma-separated targets among ${ALL_TARGETS.join(', ')} (default: all)
  --duration D        one measurement, e.g. 3s, 10s, 1m (default: $BENCH_DURATION or 3s)
  --warmup D          warm-up of each target before a scenario's rounds (default 2s)
  --repeat N          rounds per scenario (default 5); each round measures every target once, in a
                      rotating order; figures are medians over the rounds, ratios medians of per-round ratios
  --lb-config FILE    JSON config for the balancer; listen, admin port and every pool's backend URLs are replaced
  --lb-profile DIR    pass \`--profile DIR\` to the balancer: a V8 CPU profile of every worker (.cpuprofile)
  --json              print the results as JSON on stdout instead of the table
  --out FILE          where to write the Markdown report (default bench/RESULTS.md; "-" = do not write)
  --keep-tmp          keep the temporary directory (generated configs, process logs)
  -h, --help          this help`

const SCENARIOS = [
  { id: 'c64-2b', title: '64 connections, 2 threads, GET /2b', connections: 64, threads: 2, path: '/2b' },
  { id: 'c64-16k', title: '64 connections, 2 threads, GET /16k', connections: 64, threads: 2, path: '/16k' },
  { id: 'c1-2b', title: '1 connection, 1 thread, GET /2b', connections: 1, threads: 1, path: '/2b' },
]

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

const log = (msg) => process.stderr.write(`bench: ${msg}\n`)

/** "10s" | "500ms" | "1m" | "10" (seconds) -> whole seconds (>= 1; wrk takes whole seconds). */
function parseDurationS(text, what) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(String(text))
  if (!m) throw new UsageError(`${what}: expected a duration like 10s, 500ms or 1m, got "${text}"`)
  const n = Number(m[1])
  const s = m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n
  return Math.max(1, Math.ceil(s))
}

class UsageError extends Error {}

/** Abort everything in flight (Ctrl-C / SIGTERM). */
const abort = new AbortController()

function sleep(ms) {
  return new Promise((resolve, reject) => {
    if (abort.signal.aborted) return reject(new Error('aborted'))
    const t = setTimeout(() => {
      abort.signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(new Error('aborted'))
    }
    abort.signal.addEventListener('abort', onAbort, { once: true })
  })
}

function findBin(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  for (const dir of dirs) {
    if (!dir) continue
    const p = path.join(dir, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      if (fs.statSync(p).isFile()) return p
    } catch {
      // not here
    }
  }
  return null
}

function versionOf(bin, args, pattern) {
  if (!bin) return 'not installed'
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 })
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`
  const m = pattern.exec(out)
  return m ? m[1] : out.trim().split('\n')[0] || 'unknown'
}

const usedPorts = new Set()
/** A free 127.0.0.1 TCP port (bound, then released; never the same twice in one run). */
async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer()
      srv.unref()
      srv.on('error', reject)
      srv.listen(0, HOST, () => {
        const { port: p } = srv.address()
        srv.close(() => resolve(p))
      })
    })
    if (!usedPorts.has(port)) {
      usedPorts.add(port)
      return port
    }
  }
  throw new Error('no free port found')
}

/** One GET on 127.0.0.1 -> { status, length } (rejects after timeoutMs). */
function httpGet(port, urlPath, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let length = 0
      res.on('data', (c) => (length += c.length))
      res.on('end', () => resolve({ status: res.statusCode, length }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Processes: every child is registered and stopped by PID in stopAll().

/** @type {{name: string, child: import('node:child_process').ChildProcess, exited: Promise<void>, tail: string[]}[]} */
const procs = []

function startProc(name, cmd, args, { env, logFile, cwd } = {}) {
  const child = spawn(cmd, args, { cwd: cwd ?? ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const tail = []
  const out = logFile ? fs.createWriteStream(logFile) : null
  const listeners = []
  const onData = (chunk) => {
    const text = chunk.toString()
    out?.write(text)
    for (const line of text.split('\n')) if (line.trim()) tail.push(line)
    while (tail.length > 40) tail.shift()
    for (const l of listeners) l(text)
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', (err) => {
      tail.push(`spawn error: ${err.message}`)
      resolve()
    })
  })
  exited.then(() => out?.end())
  const p = { name, child, exited, tail, listeners }
  procs.push(p)
  return p
}

const isRunning = (p) => p.child.exitCode === null && p.child.signalCode === null && p.child.pid !== undefined

function failure(p, why) {
  return new Error(`${p.name}: ${why}${p.tail.length ? `\n    ${p.tail.slice(-12).join('\n    ')}` : ''}`)
}

/** Resolves when the process prints a line matching `re`; rejects if it exits first or after timeoutMs. */
function waitForOutput(p, re, timeoutMs) {
  return new Promise((resolve, reject) => {
    let buf = p.tail.join('\n')
    if (re.test(buf)) return resolve(re.exec(buf))
    const done = (fn, v) => {
      clearTimeout(timer)
      p.listeners.splice(p.listeners.indexOf(onText), 1)
      abort.signal.removeEventListener('abort', onAbort)
      fn(v)
    }
    const onText = (text) => {
      buf += text
      const m = re.exec(buf)
      if (m) done(resolve, m)
    }
    const onAbort = () => done(reject, new Error('aborted'))
    const timer = setTimeout(() => done(reject, failure(p, `not ready after ${timeoutMs} ms`)), timeoutMs)
    p.listeners.push(onText)
    abort.signal.addEventListener('abort', onAbort, { once: true })
    p.exited.then(() => {
      if (p.listeners.includes(onText)) done(reject, failure(p, `exited (code ${p.child.exitCode ?? p.child.signalCode}) before it was ready`))
    })
  })
}

/** Polls GET urlPath until it answers 200; rejects if the process exits or after timeoutMs. */
async function waitForHttp(p, port, urlPath, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    if (!isRunning(p)) throw failure(p, `exited (code ${p.child.exitCode ?? p.child.signalCode}) before it was ready`)
    try {
      const r = await httpGet(port, urlPath, 1000)
      if (r.status === 200) return
      last = `status ${r.status}`
    } catch (err) {
      last = err.message
    }
    if (Date.now() > deadline) throw failure(p, `no 200 on http://${HOST}:${port}${urlPath} after ${timeoutMs} ms (${last})`)
    await sleep(100)
  }
}

/** pid -> ppid for every process (Linux /proc; empty elsewhere). */
function processTable() {
  const table = new Map()
  let entries = []
  try {
    entries = fs.readdirSync('/proc')
  } catch {
    return table
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    const st = readStat(Number(e))
    if (st) table.set(Number(e), st.ppid)
  }
  return table
}

/** utime+stime (clock ticks) and ppid of a pid from /proc/PID/stat, or null. */
function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    // f[0] = state (field 3), ppid = field 4, utime = field 14, stime = field 15
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }
  } catch {
    return null
  }
}

/** pid and all its descendants. */
function processTree(pid, table = processTable()) {
  const out = [pid]
  for (let i = 0; i < out.length; i++) for (const [child, ppid] of table) if (ppid === out[i]) out.push(child)
  return out
}

/** Busy clock ticks of the whole machine (all CPUs) from /proc/stat, or null. */
function machineBusyTicks() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal ...: busy = everything but idle and iowait
    return f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4]
  } catch {
    return null
  }
}

function cpuTicks(pids) {
  let sum = 0
  for (const pid of pids) sum += readStat(pid)?.ticks ?? 0
  return sum
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  return Number(r.stdout?.trim()) || 100
})()

function signal(pid, sig) {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

const isAlive = (pid) => signal(pid, 0)

/** SIGTERM every started process by PID (newest first), SIGKILL after graceMs; then any leftover descendant. */
async function stopAll(graceMs = 10_000) {
  const table = processTable()
  const leftovers = new Set()
  const known = new Set()
  for (const p of [...procs].reverse()) {
    if (p.child.pid === undefined) continue
    known.add(p.child.pid)
    for (const d of processTree(p.child.pid, table).slice(1)) {
      leftovers.add(d)
      known.add(d)
    }
    if (!isRunning(p)) continue
    signal(p.child.pid, 'SIGTERM')
  }
  const deadline = Date.now() + graceMs
  for (const p of procs) {
    if (!isRunning(p)) continue
    const left = deadline - Date.now()
    let timer
    await Promise.race([p.exited, new Promise((r) => (timer = setTimeout(r, Math.max(0, left))))])
    clearTimeout(timer)
    if (isRunning(p)) {
      log(`${p.name} (pid ${p.child.pid}) did not exit after SIGTERM; SIGKILL`)
      signal(p.child.pid, 'SIGKILL')
      await p.exited
    }
  }
  // Descendants (nginx/lb workers) normally exit with their parent; make sure none is left behind.
  await new Promise((r) => setTimeout(r, 300))
  const now = processTable()
  for (const pid of leftovers) {
    // Still ours: its parent is one of the processes we started (or init, after its parent exited).
    const ppid = now.get(pid)
    if (ppid !== undefined && (ppid === 1 || ppid === process.pid || known.has(ppid)) && isAlive(pid)) {
      log(`leftover child process ${pid}: SIGKILL`)
      signal(pid, 'SIGKILL')
    }
  }
  procs.length = 0
}

// ---------------------------------------------------------------------------------------------------------------
// Targets

async function startBackend(i, tmp) {
  const p = startProc(`backend${i}`, process.execPath, [path.join(BENCH_DIR, 'backend.mjs'), '--port', '0', '--host', HOST], {
    logFile: path.join(tmp, `backend${i}.log`),
  })
  const m = await waitForOutput(p, /backend: listening on http:\/\/[^:]+:(\d+)/, 10_000)
  const port = Number(m[1])
  usedPorts.add(port)
  await waitForHttp(p, port, '/2b', 5000)
  return { proc: p, port }
}

function nginxConf(dir, port, backends) {
  return `# generated by bench/run.mjs
daemon off;
master_process on;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path ${dir}/nginx-client-body;
    proxy_temp_path ${dir}/nginx-proxy;
    fastcgi_temp_path ${dir}/nginx-fastcgi;
    uwsgi_temp_path ${dir}/nginx-uwsgi;
    scgi_temp_path ${dir}/nginx-scgi;
    # nginx closes a keep-alive connection after 1000 requests by default (client and upstream side);
    # the other targets have no such cap, so lift it to keep the comparison on steady keep-alive connections.
    keepalive_requests 1000000;
    upstream backends {
${backends.map((b) => `        server ${HOST}:${b.port};`).join('\n')}
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen ${HOST}:${port};
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`
}

function haproxyCfg(port, backends) {
  return `# generated by bench/run.mjs
global
    nbthread 2
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind ${HOST}:${port}
    default_backend be

backend be
    balance roundrobin
    http-reuse always
${backends.map((b, i) => `    server b${i + 1} ${HOST}:${b.port}`).join('\n')}
`
}

/** The balancer config: the default bench config, or a variant file with listen/admin/backends pointed at ours. */
function lbConfig(port, adminPort, backends, variantFile) {
  const urls = backends.map((b) => `http://${HOST}:${b.port}`)
  if (!variantFile) {
    return {
      listen: { host: HOST, port },
      workers: 2,
      admin: { host: HOST, port: adminPort },
      // Like nginx's `access_log off`; everything else (health checks, passive checks, breakers, metrics) at its default.
      log: { accessLog: false },
      pools: {
        bench: {
          algorithm: 'round-robin',
          backends: urls.map((url) => ({ url })),
        },
      },
    }
  }
  const cfg = JSON.parse(fs.readFileSync(variantFile, 'utf8'))
  cfg.listen = { ...(cfg.listen ?? {}), host: HOST, port }
  cfg.admin = { ...(cfg.admin ?? {}), host: HOST, port: adminPort }
  if (!cfg.pools || Object.keys(cfg.pools).length === 0) cfg.pools = { bench: {} }
  for (const pool of Object.values(cfg.pools)) {
    const old = Array.isArray(pool.backends) ? pool.backends : []
    // Keep per-backend settings (weight, id, backup...) of the variant, swap the address for ours.
    pool.backends = urls.map((url, i) => {
      const { host: _host, port: _port, url: _url, ...rest } = old[i] ?? {}
      return { ...rest, url }
    })
  }
  return cfg
}

/** Environment for the balancer without the variables that would override its config file. */
function lbEnv() {
  const env = { ...process.env }
  for (const k of ['PORT', 'WORKER_COUNT', 'REDIS_URL', 'HEALTH_CHECK_INTERVAL', 'HEALTH_CHECK_PATH', 'ADMIN_HOST', 'ADMIN_PORT', 'LB_ADMIN_TOKEN', 'LB_CONFIG', 'LOG_LEVEL']) delete env[k]
  env.NODE_ENV = 'production'
  return env
}

function newestMtime(dir) {
  let newest = 0
  let entries = []
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const e of entries) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p))
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs)
  }
  return newest
}

/** Starts one target; returns { name, port, proc, pidsForCpu() }. Throws with a reason when it cannot. */
async function startTarget(name, ctx) {
  const { tmp, backends, bins, opts } = ctx
  if (name === 'direct') {
    const b = backends[0]
    return { name, port: b.port, proc: null, note: 'backend 1 only, no proxy' }
  }
  const port = await freePort()
  if (name === 'nginx') {
    if (!bins.nginx) throw new Error('nginx: not installed, skipped')
    const dir = path.join(tmp, 'nginx')
    fs.mkdirSync(dir, { recursive: true })
    fs.chmodSync(tmp, 0o755) // nginx workers may run as another user (root master -> nobody workers)
    fs.chmodSync(dir, 0o755)
    const conf = path.join(dir, 'nginx.conf')
    fs.writeFileSync(conf, nginxConf(dir, port, backends))
    const p = startProc('nginx', bins.nginx, ['-e', path.join(dir, 'nginx-error.log'), '-p', dir, '-c', conf], { logFile: path.join(dir, 'stdout.log') })
    await waitForHttp(p, port, '/2b', 10_000)
    return { name, port, proc: p }
  }
  if (name === 'haproxy') {
    if (!bins.haproxy) throw new Error('haproxy: not installed, skipped')
    const cfg = path.join(tmp, 'haproxy.cfg')
    fs.writeFileSync(cfg, haproxyCfg(port, backends))
    const p = startProc('haproxy', bins.haproxy, ['-db', '-f', cfg], { logFile: path.join(tmp, 'haproxy.log') })
    await waitForHttp(p, port, '/2b', 10_000)
    return { name, port, proc: p }
  }
  if (name === 'bare-node') {
    // A bare undici proxy (bench/bare-proxy.mjs): what Node itself costs, without the balancer's features.
    const script = path.join(ROOT, 'bench', 'bare-proxy.mjs')
    const urls = backends.map((b) => `http://127.0.0.1:${b.port}`).join(',')
    const p = startProc('bare-node', process.execPath, [script, '--port', String(port), '--backends', urls], { logFile: path.join(tmp, 'bare.log') })
    await waitForOutput(p, /bare: listening/, 15_000)
    return { name, port, proc: p, note: 'bare undici proxy, 2 workers, no features (bench/bare-proxy.mjs)' }
  }
  if (name in LB_VARIANTS) {
    const variant = LB_VARIANTS[name]
    const cli = path.join(ROOT, 'dist', 'cli.js')
    const adminPort = await freePort()
    const cfg = lbConfig(port, adminPort, backends, opts.lbConfig)
    cfg.log = { ...(cfg.log ?? {}), ...variant.log, ...(variant.log.accessLog ? { accessLogFile: path.join(tmp, `${name}.access.log`) } : {}) }
    const cfgFile = path.join(tmp, `${name}.config.json`)
    fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2))
    const p = startProc(name, process.execPath, [cli, 'start', '--config', cfgFile], { env: lbEnv(), logFile: path.join(tmp, `${name}.log`) })
    await waitForOutput(p, /lb: listening on/, 30_000)
    await waitForHttp(p, port, '/2b', 10_000)
    return { name, port, proc: p, note: variant.note }
  }
  if (name === 'lb-redis') {
    // The balancer with its state in a real Redis (issue: shared state must cost <= 5 % of throughput).
    const redisBin = findBin('redis-server')
    if (!redisBin) throw new Error('lb-redis: redis-server not installed, skipped')
    const redisPort = await freePort()
    const r = startProc('redis', redisBin, ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'], { logFile: path.join(tmp, 'redis.log') })
    await waitForOutput(r, /Ready to accept connections/, 10_000)
    const cli = path.join(ROOT, 'dist', 'cli.js')
    const adminPort = await freePort()
    const cfgFile = path.join(tmp, 'lb-redis.config.json')
    fs.writeFileSync(cfgFile, JSON.stringify({ ...lbConfig(port, adminPort, backends, opts.lbConfig), state: { redis: { url: `redis://${HOST}:${redisPort}` } } }, null, 2))
    const p = startProc('lb-redis', process.execPath, [cli, 'start', '--config', cfgFile], { env: lbEnv(), logFile: path.join(tmp, 'lb-redis.log') })
    await waitForOutput(p, /lb: listening on/, 30_000)
    await waitForHttp(p, port, '/2b', 10_000)
    return { name, port, proc: p, note: 'the balancer with state in Redis (state.redis)' }
  }
  if (name === 'lb') {
    const cli = path.join(ROOT, 'dist', 'cli.js')
    if (!fs.existsSync(cli)) throw new Error(`lb: ${path.relative(ROOT, cli)} not found; run \`npm run build\` first`)
    let note
    if (newestMtime(path.join(ROOT, 'src')) > fs.statSync(cli).mtimeMs) {
      note = 'dist/ is older than src/: rebuild (`npm run build`) to measure the current code'
      log(`warning: ${note}`)
    }
    const adminPort = await freePort()
    const cfgFile = path.join(tmp, 'lb.config.json')
    fs.writeFileSync(cfgFile, JSON.stringify(lbConfig(port, adminPort, backends, opts.lbConfig), null, 2))
    const extra = opts.lbProfile ? ['--profile', opts.lbProfile] : []
    const p = startProc('lb', process.execPath, [cli, 'start', '--config', cfgFile, ...extra], { env: lbEnv(), logFile: path.join(tmp, 'lb.log') })
    await waitForOutput(p, /lb: listening on/, 30_000)
    await waitForHttp(p, port, '/2b', 10_000)
    return { name, port, proc: p, note }
  }
  throw new Error(`unknown target ${name}`)
}

// ---------------------------------------------------------------------------------------------------------------
// wrk

function ensureWrk() {
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
function toMicros(value, unit) {
  const n = Number(value)
  return unit === 'us' ? n : unit === 'ms' ? n * 1e3 : unit === 's' ? n * 1e6 : unit === 'm' ? n * 60e6 : unit === 'h' ? n * 3600e6 : NaN
}

function parseWrk(out) {
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
function runWrk(wrk, { port, path: urlPath, connections, threads, seconds }) {
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

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b)
  if (v.length === 0) return null
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}

/** The wrk load of one scenario against one target. */
const loadOf = (target, sc) => ({ port: target.port, path: sc.path, connections: sc.connections, threads: sc.threads })

/** Warm-up: fills connection pools, JIT, CPU frequency; discarded. */
async function warmUp(ctx, target, sc) {
  if (ctx.opts.warmupS > 0) await runWrk(ctx.wrk, { ...loadOf(target, sc), seconds: ctx.opts.warmupS })
}

/** One figure set from a target's rounds: every figure the median over them (errors: the sum). */
function summarize(runs) {
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

/**
 * A comparison of two targets measured in the same rounds: `f(a round) op f(b round)` per round, then
 * the median and the range. Pairing rounds cancels most of this shared machine's drift, which moves
 * both targets of a round together; comparing medians of separately measured figures would not.
 */
function paired(a, b, f) {
  const n = Math.min(a.runs?.length ?? 0, b.runs?.length ?? 0)
  const xs = []
  for (let i = 0; i < n; i++) xs.push(f(a.runs[i], b.runs[i]))
  if (xs.length === 0) xs.push(f(a, b))
  const sorted = [...xs].sort((x, y) => x - y)
  return { median: median(xs), min: sorted[0], max: sorted[sorted.length - 1], rounds: xs.length }
}
const pairedRatio = (a, b, key) => paired(a, b, (x, y) => x[key] / y[key])
const pairedDiff = (a, b, key) => paired(a, b, (x, y) => x[key] - y[key])
const spread = (p, fmt) => (p.rounds > 1 ? `; ${p.rounds} rounds ${fmt(p.min)}..${fmt(p.max)}` : '')

async function measureOnce(ctx, target, sc) {
  const { wrk, backends, opts } = ctx
  const load = loadOf(target, sc)
  const table = processTable()
  const proxyPids = target.proc ? processTree(target.proc.child.pid, table) : []
  const backendPids = backends.flatMap((b) => processTree(b.proc.child.pid, table))
  const t0 = process.hrtime.bigint()
  const proxy0 = cpuTicks(proxyPids)
  const back0 = cpuTicks(backendPids)
  const busy0 = machineBusyTicks()
  const { out, wrkTicks } = await runWrk(wrk, { ...load, seconds: opts.durationS })
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  const pct = (ticks) => Math.round((ticks / CLK_TCK / wall) * 100)
  const busy1 = machineBusyTicks()
  const r = parseWrk(out)
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

// ---------------------------------------------------------------------------------------------------------------
// Report

const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
function fmtLat(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return '-'
  if (us < 1000) return `${Math.round(us)} us`
  if (us < 1e6) return `${(us / 1000).toFixed(2)} ms`
  return `${(us / 1e6).toFixed(2)} s`
}
const ratio = (a, b) => (a === null || a === undefined || !b ? '-' : `${(a / b).toFixed(2)}x`)
const errorsOf = (r) => r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout + r.non2xx

function scenarioRows(results, sc, targets) {
  const rows = []
  const byT = results.scenarios[sc.id] ?? {}
  const d = byT.direct && !byT.direct.error ? byT.direct : null
  const n = byT.nginx && !byT.nginx.error ? byT.nginx : null
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

const HEADER = ['target', 'req/s', 'vs direct', 'vs nginx', 'p50', 'vs direct', 'vs nginx', 'p99', 'vs direct', 'vs nginx', 'errors', 'CPU % proxy / backends / wrk / other', 'proxy CPU us/req']

function textTable(rows) {
  const all = [HEADER, ...rows]
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => (r.length === 2 && i > 0 ? 0 : String(r[i] ?? '').length))))
  const line = (r) => (r.length === 2 ? `${r[0].padEnd(widths[0])}  ${r[1]}` : r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  '))
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function mdTable(rows) {
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`]
  for (const r of rows) out.push(r.length === 2 ? `| ${r[0]} | ${r[1].replace(/\|/g, '\\|')} |${' |'.repeat(HEADER.length - 2)}` : `| ${r.join(' | ')} |`)
  return out.join('\n')
}

function computeChecks(results) {
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
  const lb1 = get('c1-2b', 'lb')
  const d1 = get('c1-2b', 'direct')
  const addName = 'lb adds <= 120 us to direct p50 at 1 conn'
  if (lb1 && d1) {
    const p = pairedDiff(lb1, d1, 'p50us')
    checks.push({ name: addName, pass: p.median <= 120, detail: `lb p50 ${fmtLat(lb1.p50us)}, direct p50 ${fmtLat(d1.p50us)}; per-round difference median ${us(p.median)}${spread(p, us)}` })
  } else {
    checks.push({ name: addName, pass: null, detail: `not measured (${!lb1 ? 'lb' : 'direct'} missing)` })
  }
  const redis64 = get('c64-2b', 'lb-redis')
  if (redis64 && lb64) checks.push(rpsBar('lb with Redis state >= 0.95x lb with memory state, 64 conns, 2 B', redis64, lb64, 0.95, ['lb-redis', 'lb']))
  const quiet64 = get('c64-2b', 'lb-quiet')
  const observed64 = get('c64-2b', 'lb-observed')
  if (quiet64 && observed64) checks.push(rpsBar('metrics + access log to a file cost <= 15 % of throughput (64 conns, 2 B)', observed64, quiet64, 0.85, ['lb-observed', 'lb-quiet']))
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

const checkLine = (c) => `${c.pass === null ? (c.name.startsWith('info:') ? 'INFO' : 'SKIP') : c.pass ? 'PASS' : 'FAIL'}  ${c.name.replace(/^info: /, '')}  (${c.detail})`

function addedLatency(results, targets) {
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
function backendNotes(results, targets) {
  const notes = []
  for (const sc of SCENARIOS.filter((s) => s.connections > 1)) {
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

function renderMarkdown(results, targets) {
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
  lines.push(`- lb: \`node dist/cli.js start\`, ${s.lbConfig ? `variant config \`${s.lbConfig}\` (listen/admin/backends replaced)` : '2 workers, round-robin, access log off (as nginx), defaults otherwise (active and passive health checks, breakers, metrics on)'}`)
  lines.push('- nginx: `worker_processes 2`, upstream `keepalive 64`, `proxy_http_version 1.1`, `Connection ""`, access log off, `keepalive_requests 1000000`')
  lines.push('- HAProxy: `nbthread 2`, `mode http`, `balance roundrobin`, `http-reuse always`, no logging')
  lines.push('- proxy CPU us/req: CPU time of the proxy (all its processes/threads) during the measurement / requests served')
  lines.push(`- CPU %: CPU time used during the measurement / wall time (100 = one core, ${results.machine.nproc * 100} = the whole machine); "proxy" includes its workers; "other" = the rest of the machine's busy time (other processes, this script)`)
  lines.push('')
  lines.push('## Results', '')
  for (const sc of SCENARIOS) {
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
  const targets = values.only ? values.only.split(',').map((t) => t.trim()).filter(Boolean) : [...ALL_TARGETS]
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

  const wrk = ensureWrk()
  if (!wrk) {
    console.error('bench: wrk is required (apt-get install wrk)')
    return 1
  }
  const bins = { nginx: findBin('nginx'), haproxy: findBin('haproxy') }
  const targets = opts.targets.filter((t) => {
    if ((t === 'nginx' || t === 'haproxy') && !bins[t]) {
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
      wrk: versionOf(wrk, ['-v'], /wrk (\S+)/),
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
  const ctx = { tmp, wrk, bins, opts, backends: [] }
  const started = {}
  try {
    log(`temp dir ${tmp}; ${opts.durationS} s per measurement, ${opts.warmupS} s warm-up; targets: ${targets.join(', ')}`)
    ctx.backends.push(await startBackend(1, tmp), await startBackend(2, tmp))
    log(`backends on ports ${ctx.backends.map((b) => b.port).join(', ')}`)
    for (const t of targets) {
      try {
        started[t] = await startTarget(t, ctx)
        // Sanity: both paths answer 200 with the expected body size through the target.
        for (const [p, len] of [['/2b', 2], ['/16k', 16384]]) {
          const r = await httpGet(started[t].port, p, 3000)
          if (r.status !== 200 || r.length !== len) throw new Error(`${t}: GET ${p} answered ${r.status} with ${r.length} bytes, expected 200 with ${len}`)
        }
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
      results.scenarios[sc.id] ??= {}
      const live = targets.filter((t) => started[t])
      for (const t of targets) if (!started[t]) results.scenarios[sc.id][t] = { error: results.failures[t] ?? 'not started' }
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

/**
 * The hand-kept `## Across runs` section at the end of an existing report (a table of earlier runs):
 * a new run rewrites everything above it and keeps it.
 */
function keptHistory(file) {
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return ''
  }
  const at = text.indexOf('\n## Across runs')
  return at === -1 ? '' : text.slice(at)
}

/** Runs one step of a target's measurement; a failure marks that target failed for the scenario. */
async function guarded(results, sc, t, step) {
  try {
    await step()
  } catch (err) {
    if (abort.signal.aborted) throw err
    results.scenarios[sc.id][t] = { error: err.message }
    log(`${t}: ${sc.title} failed: ${err.message}`)
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
      for (const p of procs) if (p.child.pid !== undefined) signal(p.child.pid, 'SIGKILL')
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
