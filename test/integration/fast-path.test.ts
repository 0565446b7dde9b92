/**
 * The fast path (own HTTP/1.1 upstream connections) against the general one (undici), through a real
 * balancer process: the one decision is visible in the decision trace and counted in
 * `lb_requests_path_total`, `LB_FAST_PATH=off` sends everything the general way, and backends see the
 * same requests either way.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { httpRequest, startTestBackend } from '../helpers/index.js'
import { startAdminBalancer } from '../helpers/admin.js'

for (const mode of ['on', 'off'] as const) {
  const expected = mode === 'on' ? 'fast' : 'general'
  test(`LB_FAST_PATH=${mode}: plain HTTP/1.1 requests take the ${expected} path, in the trace and the metric`, async (t) => {
    const backend = await startTestBackend({ name: 'b' })
    t.after(() => backend.close())
    const lb = await startAdminBalancer(
      {
        listen: { host: '127.0.0.1' },
        workers: 1,
        pools: { p: { backends: [{ url: backend.url, id: 'b' }], healthCheck: { enabled: false } } },
      },
      { env: { LB_FAST_PATH: mode } },
    )
    t.after(() => lb.stop('SIGKILL'))
    const url = `http://127.0.0.1:${lb.port}`
    const traced = await httpRequest(`${url}/traced?x=1`, { headers: { 'x-lb-debug': lb.token } })
    assert.equal(traced.status, 200)
    assert.match(String(traced.headers['x-lb-decision']), new RegExp(`tries=b -> 200; path=${expected}$`))
    const posted = await httpRequest(`${url}/post`, { method: 'POST', body: 'hello body', headers: { 'x-request-id': 'fixed-id-1' } })
    assert.equal(posted.status, 200)
    assert.equal(posted.headers['x-request-id'], 'fixed-id-1')
    for (let i = 0; i < 3; i++) assert.equal((await httpRequest(`${url}/n${i}`)).status, 200)
    const seen = backend.requests.find((r) => r.url === '/post')
    assert.ok(seen !== undefined)
    assert.equal(seen.headers['x-request-id'], 'fixed-id-1')
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(seen.headers['x-forwarded-proto'], 'http')
    assert.equal(seen.headers['content-length'], '10')
    const m = await lb.metrics()
    assert.equal(m.sum('lb_requests_path_total', { path: expected }), 5)
    assert.equal(m.sum('lb_requests_path_total', { path: mode === 'on' ? 'general' : 'fast' }), 0)
  })
}
