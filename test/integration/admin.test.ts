/**
 * The admin API of a real balancer: probes, authentication on every mutating route, validation
 * (400), unknown pools and endpoints (404), wrong methods (405), add/remove/weight, reload (501 until
 * it lands), a non-loopback admin without a token refusing to start, and a drain that stops new
 * traffic to an endpoint while its in-flight request completes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startAdminBalancer } from '../helpers/admin.js'
import { startBalancerProcess } from '../helpers/balancer-process.js'
import { httpGet, startTestBackend, waitFor } from '../helpers/index.js'
import { AdminServer } from '../../src/admin/index.js'

test('admin API: probes, auth, validation, errors, add/remove/weight', async (t) => {
  const a = await startTestBackend({ name: 'a' })
  const extra = await startTestBackend({ name: 'extra' })
  t.after(() => Promise.all([a.close(), extra.close()]))
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: { web: { backends: [{ id: 'a', url: a.url }], healthCheck: { interval: '500ms' } } },
  })
  t.after(() => lb.stop())

  assert.equal((await lb.call('GET', '/healthz', { token: null })).status, 200)
  const ready = await lb.call('GET', '/readyz', { token: null })
  assert.equal(ready.status, 200)
  assert.deepEqual(JSON.parse(ready.body), { ready: true, workers: 2 })
  // Loopback: reads need no token.
  const pools = await lb.call('GET', '/api/pools', { token: null })
  assert.equal(pools.status, 200)
  assert.equal((JSON.parse(pools.body) as { pools: Array<{ name: string }> }).pools[0]?.name, 'web')
  assert.equal((await lb.call('GET', '/api/pools/web', { token: null })).status, 200)
  assert.equal((await lb.call('GET', '/', { token: null })).status, 200)

  // Every mutating route: no token -> 401, wrong token -> 401.
  const mutating: Array<[string, string, unknown]> = [
    ['POST', '/api/pools/web/backends', { url: extra.url }],
    ['DELETE', '/api/pools/web/backends/a', undefined],
    ['POST', '/api/pools/web/backends/a/drain', undefined],
    ['POST', '/api/pools/web/backends/a/enable', undefined],
    ['PATCH', '/api/pools/web/backends/a', { weight: 3 }],
    ['POST', '/api/reload', undefined],
  ]
  for (const [method, path, body] of mutating) {
    const none = await lb.call(method, path, { body, token: null })
    assert.equal(none.status, 401, `${method} ${path} without a token`)
    assert.match(JSON.parse(none.body).error as string, /missing admin token/)
    const wrong = await lb.call(method, path, { body, token: 'nope' })
    assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`)
    assert.match(JSON.parse(wrong.body).error as string, /invalid admin token/)
  }
  assert.equal((await lb.call('GET', '/api/pools/web/backends/a', { token: null })).status, 200, 'nothing changed')

  // Bad input -> 400 with the reason; unknown -> 404; wrong method -> 405.
  const badJson = await lb.call('POST', '/api/pools/web/backends', { raw: '{"url": ' })
  assert.equal(badJson.status, 400)
  assert.match(JSON.parse(badJson.body).error as string, /invalid JSON/)
  const badUrl = await lb.call('POST', '/api/pools/web/backends', { body: { url: 'ftp://x' } })
  assert.equal(badUrl.status, 400)
  assert.match(JSON.parse(badUrl.body).error as string, /^url: expected an http:\/\/ or https:\/\/ URL/)
  // SRV discovery is for the configuration file; a worker could not connect to an srv+ URL.
  const srv = await lb.call('POST', '/api/pools/web/backends', { body: { url: 'srv+http://_http._tcp.api.internal' } })
  assert.equal(srv.status, 400)
  assert.match(JSON.parse(srv.body).error as string, /^url: expected an http:\/\/ or https:\/\/ URL \(srv\+ URLs are discovered from the configuration file/)
  const badField = await lb.call('POST', '/api/pools/web/backends', { body: { url: extra.url, wieght: 2 } })
  assert.equal(badField.status, 400)
  assert.match(JSON.parse(badField.body).error as string, /wieght/)
  assert.equal((await lb.call('PATCH', '/api/pools/web/backends/a', { body: { weight: -1 } })).status, 400)
  assert.equal((await lb.call('PATCH', '/api/pools/web/backends/a', { raw: 'not json' })).status, 400)
  assert.equal((await lb.call('GET', '/api/pools/nope', { token: null })).status, 404)
  assert.equal((await lb.call('POST', '/api/pools/nope/backends', { body: { url: extra.url } })).status, 404)
  assert.equal((await lb.call('POST', '/api/pools/web/backends/zz/drain')).status, 404)
  assert.equal((await lb.call('DELETE', '/api/pools/web/backends/zz')).status, 404)
  const m405 = await lb.call('PUT', '/api/pools/web/backends/a')
  assert.equal(m405.status, 405)
  assert.match(m405.headers.allow ?? '', /PATCH/)
  assert.equal((await lb.call('GET', '/api/reload', { token: null })).status, 405)

  // Reload re-reads the same file: accepted.
  const reload = await lb.call('POST', '/api/reload')
  assert.equal(reload.status, 200, reload.body)

  // Add, re-weight, remove.
  const added = await lb.call('POST', '/api/pools/web/backends', { body: { url: extra.url, id: 'extra', weight: 2 } })
  assert.equal(added.status, 201, added.body)
  assert.equal((JSON.parse(added.body) as { id: string; weight: number }).weight, 2)
  assert.equal((await lb.call('POST', '/api/pools/web/backends', { body: { url: extra.url, id: 'extra' } })).status, 409)
  await waitFor(async () => {
    await httpGet(`http://127.0.0.1:${lb.port}/x`)
    return extra.count('/x') > 0
  }, { message: 'the added backend gets traffic' })
  const patched = await lb.call('PATCH', '/api/pools/web/backends/extra', { body: { weight: 7 } })
  assert.equal(patched.status, 200)
  assert.equal((JSON.parse(patched.body) as { weight: number }).weight, 7)
  const m = await lb.metrics()
  assert.equal(m.sum('lb_endpoint_weight', { endpoint: 'extra' }), 7)
  assert.equal((await lb.call('DELETE', '/api/pools/web/backends/extra')).status, 200)
  const after = JSON.parse((await lb.call('GET', '/api/pools/web', { token: null })).body) as { endpoints: Array<{ id: string }> }
  assert.deepEqual(after.endpoints.map((e) => e.id), ['a'])
})

test('drain through the API stops new traffic to the endpoint while its in-flight request completes', async (t) => {
  const slow = { status: 200, delayMs: 1500, body: '{"slow":true}' }
  const a = await startTestBackend({ name: 'a', scriptPath: '/slow', script: [slow] })
  const b = await startTestBackend({ name: 'b', scriptPath: '/slow', script: [slow] })
  t.after(() => Promise.all([a.close(), b.close()]))
  const lb = await startAdminBalancer({
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: { web: { backends: [{ id: 'a', url: a.url }, { id: 'b', url: b.url }], healthCheck: { enabled: false } } },
  })
  t.after(() => lb.stop())

  // Start slow requests until one is in flight on a.
  const inFlight: Array<Promise<{ status: number; headers: Record<string, unknown> }>> = []
  await waitFor(async () => {
    inFlight.push(httpGet(`http://127.0.0.1:${lb.port}/slow`))
    await new Promise((r) => setTimeout(r, 50))
    return a.count('/slow') > 0
  }, { timeoutMs: 5000, message: 'a slow request reached a' })
  assert.ok(a.count('/slow') >= 1)

  const drained = await lb.call('POST', '/api/pools/web/backends/a/drain')
  assert.equal(drained.status, 200)
  assert.equal((JSON.parse(drained.body) as { drained: boolean }).drained, true)
  // The change reaches every worker over IPC; give it a moment, then no new request may reach a.
  await new Promise((r) => setTimeout(r, 100))
  const before = a.count('/fast')
  for (let i = 0; i < 40; i++) {
    const r = await httpGet(`http://127.0.0.1:${lb.port}/fast`)
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-backend'], 'b')
  }
  assert.equal(a.count('/fast'), before, 'no new request to the drained endpoint')
  // The requests in flight when the drain came complete normally.
  const results = await Promise.all(inFlight)
  for (const r of results) assert.equal(r.status, 200)
  assert.ok(results.some((r) => r.headers['x-backend'] === 'a'), 'the in-flight request on a completed')
  assert.equal((await lb.metrics()).sum('lb_endpoint_draining', { endpoint: 'a' }), 1)

  const enabled = await lb.call('POST', '/api/pools/web/backends/a/enable')
  assert.equal(enabled.status, 200)
  await waitFor(async () => (await httpGet(`http://127.0.0.1:${lb.port}/fast`)).headers['x-backend'] === 'a', { message: 'a gets traffic again' })
})

test('a non-loopback admin server without a token refuses to start', async () => {
  await assert.rejects(
    startBalancerProcess({
      config: {
        listen: { host: '127.0.0.1' },
        workers: 1,
        admin: { host: '0.0.0.0' },
        pools: { web: { backends: [{ url: 'http://127.0.0.1:9' }], healthCheck: { enabled: false } } },
      },
      timeoutMs: 10_000,
    }),
    (err: Error) => {
      assert.match(err.message, /exited with 1/)
      assert.match(err.message, /admin\.host.*token/)
      return true
    },
  )
})

test('the admin server itself double-checks: non-loopback without a token throws a clear error', () => {
  const fleet = { pools: () => [], pool: () => undefined, setDrained: () => false, setWeight: () => false, addEndpoint: () => false, removeEndpoint: () => false }
  assert.throws(
    () => new AdminServer({ host: '0.0.0.0', port: 0, token: '', fleet, workers: () => 0, isReady: () => false }),
    /0\.0\.0\.0 is not a loopback address: refusing to start the admin server without a token/,
  )
})
