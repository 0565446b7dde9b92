/**
 * The admin server against hostile clients, in process over real sockets: Host names it does not know
 * (DNS rebinding) get 421.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AdminServer } from '../../src/admin/index.js'
import { httpRequest } from '../helpers/index.js'

type T = { after: (fn: () => unknown) => void }

const fleet = { pools: () => [], pool: () => undefined, setDrained: () => false, setWeight: () => false, addEndpoint: () => false, removeEndpoint: () => false }

async function admin(t: T, options: { allowedHosts?: string[]; token?: string } = {}): Promise<{ url: string; port: number }> {
  const server = new AdminServer({ host: '127.0.0.1', port: 0, token: options.token ?? 'tok', fleet, workers: () => 1, isReady: () => true, allowedHosts: options.allowedHosts, tickMs: 60_000 })
  await server.start()
  t.after(() => server.close())
  return { url: server.url(), port: server.port() }
}

test('admin server: a Host it does not know gets 421 with a JSON reason on every page and API call; probes answer any Host', async (t) => {
  const a = await admin(t)
  for (const path of ['/', '/api/pools', '/api/stats', '/metrics', '/api/events']) {
    const r = await httpRequest(`${a.url}${path}`, { headers: { host: `attacker.example:${a.port}` } })
    assert.equal(r.status, 421, path)
    assert.match(r.headers['content-type'] ?? '', /application\/json/)
    assert.match(JSON.parse(r.body).error as string, /admin\.allowedHosts/)
  }
  const post = await httpRequest(`${a.url}/api/reload`, { method: 'POST', headers: { host: 'attacker.example', authorization: 'Bearer tok' } })
  assert.equal(post.status, 421)
  for (const path of ['/healthz', '/readyz']) {
    assert.equal((await httpRequest(`${a.url}${path}`, { headers: { host: 'kube-probe.svc.cluster.local' } })).status, 200, path)
  }
})

test('admin server: loopback names with or without a port, and admin.allowedHosts (any case), are served', async (t) => {
  const a = await admin(t, { allowedHosts: ['lb-admin.internal', '10.1.2.3'] })
  for (const host of ['localhost', `localhost:${a.port}`, '127.0.0.1', `127.0.0.1:${a.port}`, '[::1]', `[::1]:${a.port}`, 'LocalHost.', `LB-Admin.Internal:${a.port}`, '10.1.2.3:80']) {
    const r = await httpRequest(`${a.url}/api/pools`, { headers: { host } })
    assert.equal(r.status, 200, host)
  }
  for (const host of ['lb-admin.internal.attacker.example', '10.1.2.4', 'localhost.attacker.example', '[::2]']) {
    assert.equal((await httpRequest(`${a.url}/api/pools`, { headers: { host } })).status, 421, host)
  }
})

test('admin 401: after 10 wrong tokens from an address, 429 with Retry-After without comparing (the right token too)', async (t) => {
  const a = await admin(t, { token: 'right-token' })
  for (let i = 0; i < 10; i++) {
    const r = await httpRequest(`${a.url}/api/reload`, { method: 'POST', headers: { authorization: `Bearer wrong-${i}` } })
    assert.equal(r.status, 401)
  }
  const r = await httpRequest(`${a.url}/api/reload`, { method: 'POST', headers: { authorization: 'Bearer right-token' } })
  assert.equal(r.status, 429)
  assert.ok(Number(r.headers['retry-after']) > 0)
  assert.match(JSON.parse(r.body).error as string, /too many wrong admin tokens/)
  // Read-only calls on loopback need no token: still served.
  assert.equal((await httpRequest(`${a.url}/api/pools`)).status, 200)
})

test('POST /api/pools/:pool/backends: an id with CR/LF, NUL or a space is refused with 400 and the reason', async (t) => {
  let added = 0
  const webFleet = { ...fleet, pool: (name: string) => (name === 'web' ? ({ name: 'web', endpoints: [] } as never) : undefined), addEndpoint: () => (added++, true) }
  const server = new AdminServer({ host: '127.0.0.1', port: 0, token: 'tok', fleet: webFleet, workers: () => 1, isReady: () => true, tickMs: 60_000 })
  await server.start()
  t.after(() => server.close())
  for (const id of ['x\r\nSet-Cookie: a=b', 'a b', 'nul\u0000', 'tab\there']) {
    const r = await httpRequest(`${server.url()}/api/pools/web/backends`, { method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: JSON.stringify({ url: 'http://127.0.0.1:9', id }) })
    assert.equal(r.status, 400, JSON.stringify(id))
    assert.match(JSON.parse(r.body).error as string, /id: expected an endpoint id of visible ASCII/)
  }
  assert.equal(added, 0)
  const ok = await httpRequest(`${server.url()}/api/pools/web/backends`, { method: 'POST', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: JSON.stringify({ url: 'http://127.0.0.1:9', id: 'web-9' }) })
  assert.equal(ok.status, 201)
  assert.equal(added, 1)
})
