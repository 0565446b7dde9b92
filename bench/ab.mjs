// Compares the balancer's CPU time per request between builds of two or more commits, interleaved, so that
// a regression can be told from the machine's drift (npm run bench compares the balancer with other
// proxies; this compares the balancer with itself).
//
//   node bench/ab.mjs [--rounds 12] [--secs 3] [--workers 2] [--conns 1,64] COMMIT COMMIT [...]
//
// Each commit is built once into a temporary directory (git archive + tsc, this checkout's node_modules)
// and started as `lb start` with `workers` workers over one bench/backend.mjs, all of them at once. Then,
// round after round, in an order that rotates, wrk drives each for `secs` seconds per connection count;
// the figure is the CPU time of the balancer's processes (primary and workers, from /proc) divided by the
// requests served. Reported: per commit the median and range, and against the first commit the median and
// quartiles of the per-round ratios (each round measures every commit within seconds of the others, so
// the ratio of a round is less exposed to drift than the medians are). Needs wrk; 127.0.0.1 only.
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { freePort } from './lib/util.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  options: {
    rounds: { type: 'string', default: '12' },
    secs: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    conns: { type: 'string', default: '1,64' },
  },
  allowPositionals: true,
})
if (positionals.length < 2) {
  console.error('usage: node bench/ab.mjs [--rounds N] [--secs S] [--workers W] [--conns 1,64] COMMIT COMMIT [...]')
  process.exit(2)
}
const rounds = Number(values.rounds)
const secs = Number(values.secs)
const conns = values.conns.split(',').map(Number)
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
const procs = []
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-ab-'))
process.on('exit', () => {
  for (const p of procs) p.kill('SIGKILL')
  fs.rmSync(tmp, { recursive: true, force: true })
})
process.on('SIGINT', () => process.exit(130))

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Builds `commit` into its own directory and returns it. */
function build(commit) {
  const dir = path.join(tmp, commit)
  fs.mkdirSync(dir)
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive "${commit}" | tar -x -C "${dir}"`])
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: dir })
  execFileSync(process.execPath, ['scripts/copy-static.mjs'], { cwd: dir, stdio: 'ignore' })
  return dir
}

async function waitHttp(port) {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/2b`)
      await res.text()
      if (res.status === 200) return
    } catch {
      // not up yet
    }
    await sleep(100)
  }
  throw new Error(`nothing answers on port ${port}`)
}

/** CPU time (ms) of `pid` and its children (the cluster workers), from /proc. */
function cpuMs(pid) {
  let kids = []
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
  } catch {
    // no children file: the primary alone
  }
  let ticks = 0
  for (const p of [pid, ...kids]) {
    const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12]) // utime, stime
  }
  return (ticks * 1000) / CLK_TCK
}

/** Runs wrk; resolves with the number of requests served. */
function wrk(port, c, s) {
  return new Promise((resolve, reject) => {
    const w = spawn('wrk', ['-t1', `-c${c}`, `-d${s}s`, `http://127.0.0.1:${port}/2b`])
    let out = ''
    w.stdout.on('data', (d) => (out += d))
    w.on('error', reject)
    w.on('exit', () => {
      const m = /(\d+) requests in/.exec(out)
      if (m) resolve(Number(m[1]))
      else reject(new Error(`wrk: ${out}`))
    })
  })
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const quartile = (a, q) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))]

const backendPort = await freePort()
procs.push(spawn(process.execPath, [path.join(ROOT, 'bench/backend.mjs'), '--port', String(backendPort)], { stdio: 'ignore' }))
await waitHttp(backendPort)
const targets = []
for (const commit of positionals) {
  const dir = build(commit)
  const port = await freePort()
  const cfg = {
    listen: { host: '127.0.0.1', port },
    workers: Number(values.workers),
    admin: { host: '127.0.0.1', port: await freePort() },
    log: { accessLog: false },
    pools: { bench: { algorithm: 'round-robin', backends: [{ url: `http://127.0.0.1:${backendPort}` }] } },
  }
  const file = path.join(tmp, `${commit}.json`)
  fs.writeFileSync(file, JSON.stringify(cfg))
  const p = spawn(process.execPath, [path.join(dir, 'dist/cli.js'), 'start', '--config', file], { stdio: 'ignore' })
  procs.push(p)
  await waitHttp(port)
  targets.push({ commit, port, pid: p.pid, perConn: new Map(conns.map((c) => [c, []])) })
}
for (const t of targets) for (const c of conns) await wrk(t.port, c, 2) // warm-up
for (let r = 0; r < rounds; r++) {
  const order = targets.map((_, i) => targets[(i + r) % targets.length])
  for (const t of order) {
    for (const c of conns) {
      const before = cpuMs(t.pid)
      const served = await wrk(t.port, c, secs)
      t.perConn.get(c).push(((cpuMs(t.pid) - before) * 1000) / served)
    }
  }
  console.log(`round ${r + 1}: ${targets.map((t) => `${t.commit} ${conns.map((c) => t.perConn.get(c).at(-1).toFixed(1)).join('/')}`).join(' | ')}`)
}
console.log(`\nCPU per request (us), ${rounds} rounds x ${secs} s, ${values.workers} workers, wrk -t1; connections ${conns.join(', ')}`)
const base = targets[0]
for (const t of targets) {
  const cells = conns.map((c) => {
    const v = t.perConn.get(c)
    let cell = `c${c}: ${median(v).toFixed(1)} [${Math.min(...v).toFixed(1)}-${Math.max(...v).toFixed(1)}]`
    if (t !== base) {
      const ratios = v.map((x, i) => x / base.perConn.get(c)[i])
      cell += ` ratio ${median(ratios).toFixed(3)} (q1 ${quartile(ratios, 0.25).toFixed(3)}, q3 ${quartile(ratios, 0.75).toFixed(3)})`
    }
    return cell
  })
  console.log(`${t.commit.padEnd(12)} ${cells.join('  ')}`)
}
process.exit(0)
