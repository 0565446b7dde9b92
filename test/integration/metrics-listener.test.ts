/**
 * The metrics listener and the process metrics of a real balancer (2 workers, `lb start` as a child
 * process): `/metrics` answers there without a token while the admin server wants one, nothing else is
 * served there; every worker and the primary export Node's process metrics under their own `worker`
 * label; the connection, byte, upstream-time and code-class metrics move when traffic flows, and the TLS
 * listener's failed handshakes are counted.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseExposition, startAdminBalancer } from '../helpers/admin.js'
import { getFreePorts, httpRequest, startTestBackend, waitFor } from '../helpers/index.js'

const run = promisify(execFile)

test('the metrics listener serves /metrics without a token and nothing of the admin API', async (t) => {
  const backend = await startTestBackend({ name: 'a' })
  t.after(() => backend.close())
  const [metricsPort] = await getFreePorts(1)
  // Admin beyond loopback: every admin call, /metrics included, needs the token there.
  const lb = await startAdminBalancer(
    { listen: { host: '127.0.0.1' }, workers: 2, log: { accessLog: false }, admin: { host: '0.0.0.0' }, pools: { web: { backends: [{ url: backend.url }] } } },
    { env: { METRICS_PORT: String(metricsPort) } },
  )
  t.after(() => lb.stop())
  assert.match(lb.output(), new RegExp(`lb: metrics http://127\\.0\\.0\\.1:${metricsPort}/metrics \\(no token\\)`))
  const base = `http://127.0.0.1:${metricsPort}`

  assert.equal((await lb.call('GET', '/metrics', { token: null })).status, 401, 'the admin server wants its token')
  const r = await httpRequest(`${base}/metrics`)
  assert.equal(r.status, 200)
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const m = parseExposition(r.body)
  assert.equal(m.sum('lb_workers'), 2)
  assert.ok(m.types.has('lb_requests_total') && m.types.has('lb_endpoint_up'), 'worker and primary metrics, as on the admin server')
  assert.equal((await httpRequest(`${base}/metrics`, { method: 'HEAD' })).status, 200)

  for (const path of ['/', '/healthz', '/readyz', '/api/pools', '/api/stats', '/api/events', '/index.html', '/metrics/x']) {
    const res = await httpRequest(`${base}${path}`, { headers: { authorization: `Bearer ${lb.token}` } })
    assert.equal(res.status, 404, `${path} is not served on the metrics listener`)
    assert.doesNotMatch(res.body, /pools|endpoints|<html/i)
  }
  for (const [method, path] of [['POST', '/api/reload'], ['POST', `/api/pools/web/backends/127.0.0.1:${backend.port}/drain`], ['DELETE', `/api/pools/web/backends/127.0.0.1:${backend.port}`]] as const) {
    const res = await httpRequest(`${base}${path}`, { method, headers: { authorization: `Bearer ${lb.token}` } })
    assert.equal(res.status, 404, `${method} ${path}`)
  }
  assert.equal((await httpRequest(`${base}/metrics`, { method: 'POST' })).status, 405)
  // Nothing was drained through it: the backend still serves.
  const proxied = await httpRequest(`http://127.0.0.1:${lb.port}/still`)
  assert.equal(proxied.status, 200)
  assert.equal(proxied.headers['x-backend'], 'a')
})

test('process metrics for every worker and the primary; connection, byte, upstream and code-class metrics move with traffic', async (t) => {
  const backend = await startTestBackend({ name: 'a', script: [500], scriptPath: '/fail' })
  t.after(() => backend.close())
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: { web: { backends: [{ url: backend.url }], retries: { attempts: 1 }, outlierDetection: { enabled: false } } },
  })
  t.after(() => lb.stop())

  // Scrapes right after one another (and beside the dashboard's own collection every second) stay valid.
  await Promise.all([lb.metrics(), lb.metrics(), lb.metrics()])
  const before = await lb.metrics()
  for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_start_time_seconds']) {
    const workers = new Set(before.find(name).map((s) => s.labels.worker))
    assert.equal(workers.size, 3, `${name}: one series per worker and the primary, got ${[...workers].join(', ')}`)
    assert.ok(workers.has('primary'), `${name}{worker="primary"}`)
    for (const s of before.find(name)) assert.ok(s.value > 0, `${name}${JSON.stringify(s.labels)} = ${s.value}`)
  }
  assert.equal(before.types.get('nodejs_gc_duration_seconds'), 'histogram')
  assert.equal(before.types.get('lb_upstream_header_duration_seconds'), 'histogram')
  assert.equal(before.types.get('lb_tls_handshake_errors_total'), 'counter')

  // One keep-alive connection held open while scraping.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  const N = 20
  const body = 'x'.repeat(1000)
  let sentBytes = 0
  for (let i = 0; i < N; i++) {
    const r = await httpRequest(`http://127.0.0.1:${lb.port}/ok/${i}`, { method: 'POST', body, agent })
    assert.equal(r.status, 200)
    sentBytes += Buffer.byteLength(r.body)
  }
  const failed = await httpRequest(`http://127.0.0.1:${lb.port}/fail`, { agent })
  assert.equal(failed.status, 500)
  sentBytes += Buffer.byteLength(failed.body)

  const after = await waitFor(async () => {
    const m = await lb.metrics()
    return m.sum('lb_request_duration_seconds_count') === N + 1 ? m : undefined
  })
  assert.ok(after.sum('lb_connections_open', { listener: 'http' }) >= 1, 'the keep-alive connection is open')
  assert.equal(after.sum('lb_request_duration_seconds_count', { code_class: '2xx' }), N)
  assert.equal(after.sum('lb_request_duration_seconds_count', { code_class: '5xx' }), 1)
  assert.equal(after.sum('lb_upstream_header_duration_seconds_count', { pool: 'web' }), N + 1)
  assert.ok(after.sum('lb_upstream_header_duration_seconds_sum') > 0)
  assert.equal(after.sum('lb_bytes_received_total', { pool: 'web' }), N * body.length)
  assert.equal(after.sum('lb_bytes_sent_total', { pool: 'web' }), sentBytes)
  assert.equal(after.sum('lb_requests_total'), N + 1, 'existing labels unchanged')

  agent.destroy()
  await waitFor(async () => ((await lb.metrics()).sum('lb_connections_open', { listener: 'http' }) === 0 ? true : undefined))
})

test('TLS listener: open connections and failed handshakes are counted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-metrics-tls-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const cert = join(dir, 'a.crt')
  const key = join(dir, 'a.key')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=a.test', '-keyout', key, '-out', cert])
  const backend = await startTestBackend({ name: 'a' })
  t.after(() => backend.close())
  const [tlsPort = 0] = await getFreePorts(1)
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    tls: { host: '127.0.0.1', port: tlsPort, certificates: [{ cert, key }] },
    workers: 2,
    log: { accessLog: false },
    pools: { web: { backends: [{ url: backend.url }] } },
  })
  t.after(() => lb.stop())
  const before = await lb.metrics()
  assert.equal(before.sum('lb_tls_handshake_errors_total'), 0)

  // Plain HTTP and a TLS 1.0-only client at the TLS port: both handshakes fail.
  await new Promise<void>((resolve) => {
    const s = net.connect(tlsPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nhost: a.test\r\n\r\n'))
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.resume()
  })
  await new Promise<void>((resolve) => {
    const s = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false, maxVersion: 'TLSv1', minVersion: 'TLSv1' })
    s.on('error', () => resolve())
    s.on('close', () => resolve())
  })
  // One good connection held open.
  const good = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false })
  t.after(() => good.destroy())
  await new Promise<void>((resolve, reject) => {
    good.once('secureConnect', () => resolve())
    good.once('error', reject)
  })
  const after = await waitFor(async () => {
    const m = await lb.metrics()
    return m.sum('lb_tls_handshake_errors_total', { listener: 'https' }) === 2 && m.sum('lb_connections_open', { listener: 'https' }) === 1 ? m : undefined
  }, { message: '2 handshake errors and 1 open TLS connection' })
  assert.equal(after.sum('lb_connections_open', { listener: 'http' }), 0)
})
