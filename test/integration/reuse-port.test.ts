// listen.reusePort: each worker binds its own socket with SO_REUSEPORT and the kernel spreads connections
// over them, instead of the primary accepting each one and handing it to a worker over IPC (whose
// one-at-a-time hand-off made the last connections of a burst of thousands wait seconds). Where Node
// cannot do it (before 22.12 / 23.1), `lb start` refuses the option instead of ignoring it. A rolling
// restart loses nothing when net.ipv4.tcp_migrate_req is 1; the test checks whichever this machine has.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { startAdminBalancer } from '../helpers/admin.js'
import { CLI, childrenOf } from '../helpers/balancer-process.js'
import { startTestBackend } from '../helpers/backend.js'
import { getFreePorts, waitFor } from '../helpers/net.js'
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { reusePortUnsupported } from '../../src/core/index.js'
import { ACCEPT_SOCKETS_PER_WORKER } from '../../src/server/index.js'

const unsupported = reusePortUnsupported()

function readMigrateReq(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim()
  } catch {
    return undefined
  }
}
const migrate = readMigrateReq()

/** 1 000 connections, fewer where this process may not open that many files (each side needs one). */
function burstSize(): number {
  const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  const limit = m === null ? 1024 : Number(m[1])
  return Math.min(1000, Math.floor((limit - 200) / 2))
}
const BURST = burstSize()

/** Socket inodes of the TCP sockets in `state` (hex, `0A` = LISTEN, `01` = ESTABLISHED) on local `port`. */
function socketInodes(port: number, state: string): Set<string> {
  const out = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10) continue
      const local = f[1] ?? ''
      if (Number.parseInt(local.slice(local.indexOf(':') + 1), 16) === port && f[3] === state) out.add(f[9] ?? '')
    }
  }
  return out
}

/** Which of `pids` hold which of `inodes` (from /proc/PID/fd), as pid -> count. */
function holders(pids: number[], inodes: Set<string>): Map<number, number> {
  const out = new Map<number, number>()
  for (const pid of pids) {
    let n = 0
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m && inodes.has(m[1] ?? '')) n++
      } catch {
        // closed meanwhile
      }
    }
    out.set(pid, n)
  }
  return out
}

/** Opens `n` connections at once, sends one keep-alive GET on each, resolves with the statuses; sockets stay open. */
async function burst(port: number, n: number): Promise<{ statuses: number[]; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = []
  const statuses = await Promise.all(Array.from({ length: n }, () => new Promise<number>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n'))
    sockets.push(s)
    let buf = ''
    s.setEncoding('latin1')
    s.on('data', (d: string) => {
      buf += d
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf)
      if (m && buf.includes('\r\n\r\n')) resolve(Number(m[1]))
    })
    s.on('error', () => resolve(0))
    s.on('close', () => resolve(0))
  })))
  return { statuses, sockets }
}

test('listen.reusePort is refused with the field named where Node cannot bind with SO_REUSEPORT', { skip: unsupported === undefined ? 'this Node supports reusePort' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-reuseport-'))
  try {
    const file = join(dir, 'lb.config.json')
    writeFileSync(file, JSON.stringify({ listen: { port: 18555, reusePort: true }, pools: { main: { backends: [{ url: 'http://127.0.0.1:1' }] } } }))
    const r = spawnSync(process.execPath, [CLI, 'start', '--config', file], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /listen\.reusePort/)
    assert.match(r.stderr, /Node 22\.12\+/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('with listen.reusePort every worker accepts on its own socket, a burst of 1 000 connections is answered (fewer under a low ulimit -n), and a rolling restart keeps serving', { skip: unsupported ?? false, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-reuseport-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=lb.test', '-addext', 'subjectAltName=DNS:lb.test', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  const backend = await startTestBackend({ name: 'b1' })
  const [port = 0, tlsPort = 0] = await getFreePorts(2)
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1', port, reusePort: true },
    tls: { host: '127.0.0.1', port: tlsPort, certificates: [{ cert, key }] },
    workers: 2,
    log: { accessLog: false },
    pools: { main: { backends: [{ url: backend.url }], healthCheck: { enabled: false } } },
  }, { port, timeoutMs: 60_000 })
  const open: net.Socket[] = []
  try {
    assert.match(lb.output(), /SO_REUSEPORT/)
    const workers = childrenOf(lb.pid)
    assert.equal(workers.length, 2)
    // Each worker listens on its own sockets, on both listeners (with the primary's hand-off there is one
    // socket, in the primary); several per worker, since each accepts one connection per loop turn.
    for (const p of [port, tlsPort]) {
      const listening = holders([lb.pid, ...workers], socketInodes(p, '0A'))
      assert.deepEqual(workers.map((w) => listening.get(w)), [ACCEPT_SOCKETS_PER_WORKER, ACCEPT_SOCKETS_PER_WORKER], `listening sockets per process on ${p}: ${JSON.stringify([...listening])}`)
      assert.equal(listening.get(lb.pid), 0)
    }
    // (curl runs asynchronously: the backend answers from this process.)
    const tlsAnswer = await promisify(execFile)('curl', ['-sk', '--resolve', `lb.test:${tlsPort}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code}', `https://lb.test:${tlsPort}/x`], { encoding: 'utf8' })
    assert.equal(tlsAnswer.stdout, '200')

    const b = await burst(port, BURST)
    open.push(...b.sockets)
    assert.equal(b.statuses.filter((s) => s === 200).length, BURST)
    // The kernel spread them: both workers hold a share of the established connections.
    const served = holders(workers, socketInodes(port, '01'))
    for (const w of workers) assert.ok((served.get(w) ?? 0) >= BURST / 10, `worker ${w} holds ${served.get(w)} of ${BURST} connections: ${JSON.stringify([...served])}`)
    // The open-connections gauge counts them whichever socket accepted them.
    const gauge = (await lb.metrics()).samples.filter((x) => x.name === 'lb_connections_open' && x.labels.listener === 'http')
    assert.equal(gauge.reduce((a, x) => a + x.value, 0), BURST)
    for (const s of open) s.destroy()
    open.length = 0

    // SIGUSR2 replaces the workers one by one (each new one listens before its predecessor drains);
    // requests on new connections keep being answered meanwhile.
    lb.child.kill('SIGUSR2')
    const statuses: number[] = []
    while (!/every worker replaced/.test(lb.output())) {
      const r = await burst(port, 20)
      statuses.push(...r.statuses)
      for (const s of r.sockets) s.destroy()
      assert.ok(statuses.length < 200_000, 'the workers were never replaced')
    }
    const after = await burst(port, 50)
    open.push(...after.sockets)
    assert.equal(after.statuses.filter((s) => s === 200).length, 50)
    assert.ok(statuses.length > 0)
    if (migrate === '1') {
      // The kernel moves what a retiring worker's socket had queued to a remaining worker: nothing is lost.
      assert.deepEqual(statuses.filter((s) => s !== 200), [], `during the restart ${statuses.length} requests were sent`)
    } else {
      // Without it a connection queued on the retiring worker's socket can be reset (status 0 here, never a
      // wrong answer), which is what the start-up warning says.
      assert.deepEqual(statuses.filter((s) => s !== 200 && s !== 0), [])
      assert.match(lb.output(), /warning: listen\.reusePort: net\.ipv4\.tcp_migrate_req is 0/)
    }
    const next = await waitFor(() => {
      const now = childrenOf(lb.pid)
      return now.length === 2 && now.every((w) => !workers.includes(w)) ? now : undefined
    }, { timeoutMs: 30_000 })
    const relisten = holders(next, socketInodes(port, '0A'))
    assert.deepEqual(next.map((w) => relisten.get(w)), [ACCEPT_SOCKETS_PER_WORKER, ACCEPT_SOCKETS_PER_WORKER])
  } finally {
    for (const s of open) s.destroy()
    assert.equal(await lb.stop(), 0)
    await backend.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
