/**
 * The admin server against hostile clients, in process over real sockets: Host names it does not know
 * (DNS rebinding) get 421.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AdminServer } from '../../src/admin/index.js'
import http from 'node:http'
import net from 'node:net'
import { httpRequest, waitFor } from '../helpers/index.js'

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

/** Opens `/api/events` and resolves with the response once its head arrived (the body keeps streaming). */
function openStream(url: string, agent: http.Agent): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/events`, { agent }, resolve)
    req.on('error', reject)
  })
}

test('/api/events: at most 32 streams open at once, 503 beyond', async (t) => {
  const server = new AdminServer({ host: '127.0.0.1', port: 0, token: 'tok', fleet, workers: () => 1, isReady: () => true, tickMs: 60_000 })
  await server.start()
  t.after(() => server.close())
  const agent = new http.Agent({ keepAlive: false, maxSockets: 64 })
  t.after(() => agent.destroy())
  const streams: http.IncomingMessage[] = []
  for (let i = 0; i < 32; i++) {
    const res = await openStream(server.url(), agent)
    res.resume()
    streams.push(res)
    assert.equal(res.statusCode, 200)
  }
  const refused = await httpRequest(`${server.url()}/api/events`)
  assert.equal(refused.status, 503)
  assert.ok(Number(refused.headers['retry-after']) > 0)
  assert.match(JSON.parse(refused.body).error as string, /too many/)
  ;(streams.pop() as http.IncomingMessage).destroy()
  await waitFor(() => server.eventClients === 31)
  const again = await openStream(server.url(), agent)
  assert.equal(again.statusCode, 200, 'a closed stream frees its place')
  again.destroy()
  for (const r of streams) r.destroy()
})

test('/api/events: a client that never reads is closed once 1 MiB is queued for it, instead of buffered for ever', async (t) => {
  // Large snapshots (3000 endpoints) on a fast tick fill the socket buffers of a client that does not read.
  const endpoints = Array.from({ length: 3000 }, (_, i) => ({ id: `endpoint-${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1, backup: false, healthy: true, ejected: false, drained: false, circuit: 'closed' as const }))
  const bigFleet = { ...fleet, pools: () => [{ name: 'web', algorithm: 'round-robin', endpoints }] as never[] }
  const server = new AdminServer({ host: '127.0.0.1', port: 0, token: 'tok', fleet: bigFleet, workers: () => 1, isReady: () => true, tickMs: 50 })
  await server.start()
  t.after(() => server.close())

  const slow = net.connect(server.port(), '127.0.0.1')
  t.after(() => slow.destroy())
  await new Promise<void>((resolve) => slow.once('connect', () => resolve()))
  slow.pause()
  slow.write('GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n')
  const agent = new http.Agent({ keepAlive: false })
  t.after(() => agent.destroy())
  const reader = await openStream(server.url(), agent)
  let readerBytes = 0
  reader.on('data', (c: Buffer) => (readerBytes += c.length))
  await waitFor(() => server.eventClients === 2, { message: 'both streams open' })

  await waitFor(() => server.eventClients === 1, { timeoutMs: 20_000, message: 'slow stream closed' })
  const before = readerBytes
  await waitFor(() => readerBytes > before, { message: 'the reading client still gets frames' })
  let received = 0
  const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()))
  slow.on('data', (c: Buffer) => (received += c.length))
  slow.on('error', () => undefined)
  slow.resume()
  await closed
  assert.ok(received > 0)
  reader.destroy()
})
