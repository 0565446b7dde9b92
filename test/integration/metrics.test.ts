/**
 * Prometheus metrics of a real balancer (4 workers): request counts summed over the workers equal
 * what was sent, the exposition parses strictly with no duplicate series, and a killed backend shows
 * up as `lb_endpoint_up 0` (and in the API) within two probe intervals.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { startAdminBalancer } from '../helpers/admin.js'
import { httpGet, spawnBackendProcess, startTestBackend, waitFor } from '../helpers/index.js'
import { lbMetricFamilies } from '../helpers/metric-families.js'

/** Every family the balancer registers must be in the exposition (primary and workers aggregated). */
const EXPECTED_FAMILIES = lbMetricFamilies()

test('lb_requests_total summed over 4 workers equals the requests sent; strict exposition, no duplicates', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((name) => startTestBackend({ name })))
  t.after(() => Promise.all(backends.map((b) => b.close())))
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 4,
    log: { accessLog: false },
    pools: { web: { backends: backends.map((b) => ({ url: b.url })), healthCheck: { interval: '500ms' } } },
  })
  t.after(() => lb.stop())

  const N = 400
  const agent = new http.Agent({ keepAlive: false })
  t.after(() => agent.destroy())
  const methods = ['GET', 'POST', 'DELETE']
  let sent = 0
  // New connections each time, so the primary's round-robin spreads them over the 4 workers.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (sent < N) {
        const i = sent++
        const method = methods[i % methods.length] ?? 'GET'
        const r = await new Promise<number>((resolve, reject) => {
          const req = http.request(`http://127.0.0.1:${lb.port}/m/${i}`, { method, agent }, (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode ?? 0))
          })
          req.on('error', reject)
          req.end(method === 'POST' ? 'x' : undefined)
        })
        assert.equal(r, 200)
      }
    }),
  )
  const m = await lb.metrics()
  assert.equal(m.sum('lb_requests_total'), N, 'every request counted exactly once')
  assert.equal(m.sum('lb_requests_total', { code: '200' }), N)
  assert.equal(m.sum('lb_requests_total', { method: 'POST' }), Math.floor(N / 3) + (N % 3 >= 2 ? 1 : 0))
  assert.equal(m.sum('lb_request_duration_seconds_count'), N)
  assert.equal(m.sum('lb_workers'), 4)
  assert.ok(EXPECTED_FAMILIES.length >= 20, `registered families: ${EXPECTED_FAMILIES.join(', ')}`)
  for (const family of EXPECTED_FAMILIES) {
    assert.ok(m.types.has(family), `${family} has a TYPE line`)
  }
  assert.equal(m.types.get('lb_requests_total'), 'counter')
  assert.equal(m.types.get('lb_request_duration_seconds'), 'histogram')
  assert.equal(m.find('lb_build_info')[0]?.labels.node, process.version)
  assert.equal(m.find('lb_build_info')[0]?.labels.listener, process.env.LB_HTTP1_SERVER === 'node' ? 'node' : 'own')
  assert.ok(m.find('lb_request_duration_seconds_bucket', { le: '0.0005' }).length > 0, 'buckets start at 0.5 ms')
  assert.ok(m.find('lb_request_duration_seconds_bucket', { le: '10' }).length > 0, 'buckets end at 10 s')
  assert.ok(m.sum('lb_health_checks_total', { result: 'success' }) > 0, 'probes counted in the primary')
  // Probes are never counted as requests: each backend saw more requests than were proxied to it.
  const proxied = backends.reduce((a, b) => a + m.sum('lb_requests_total', { endpoint: `127.0.0.1:${b.port}` }), 0)
  assert.equal(proxied, N)

  // A second scrape after more traffic is monotonic and still parses.
  await httpGet(`http://127.0.0.1:${lb.port}/again`)
  const m2 = await lb.metrics()
  assert.equal(m2.sum('lb_requests_total'), N + 1)
})

test('a killed backend shows as lb_endpoint_up 0 in /metrics and unhealthy in /api/pools within 2 probe intervals', async (t) => {
  const a = await spawnBackendProcess('a')
  const b = await spawnBackendProcess('b')
  t.after(() => Promise.all([a.stop(), b.stop()]))
  const intervalMs = 1000
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: {
      web: {
        backends: [{ url: a.url }, { url: b.url }],
        healthCheck: { path: '/api/health', interval: `${intervalMs}ms`, timeout: '300ms', unhealthyThreshold: 1, jitter: 0 },
      },
    },
  })
  t.after(() => lb.stop())
  const idA = `127.0.0.1:${a.port}`
  await waitFor(async () => (await lb.metrics()).sum('lb_endpoint_up', { endpoint: idA }) === 1, { message: 'a up' })

  await a.kill('SIGKILL')
  const killedAt = performance.now()
  await waitFor(async () => (await lb.metrics()).sum('lb_endpoint_up', { endpoint: idA }) === 0, { timeoutMs: 2 * intervalMs + 500, intervalMs: 50, message: 'lb_endpoint_up 0 within 2 intervals' })
  const elapsed = performance.now() - killedAt
  assert.ok(elapsed <= 2 * intervalMs + 500, `seen after ${Math.round(elapsed)} ms`)
  const pools = JSON.parse((await lb.call('GET', '/api/pools', { token: null })).body) as { pools: Array<{ name: string; endpoints: Array<{ id: string; healthy: boolean; ready: boolean }> }> }
  const ep = pools.pools[0]?.endpoints.find((e) => e.id === idA)
  assert.equal(ep?.healthy, false)
  assert.equal(ep?.ready, false)
  const m = await lb.metrics()
  assert.equal(m.sum('lb_endpoint_up', { endpoint: `127.0.0.1:${b.port}` }), 1)
  assert.ok(m.sum('lb_health_checks_total', { endpoint: idA, result: 'failure' }) >= 1)
})
