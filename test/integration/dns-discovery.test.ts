/**
 * DNS discovery of backends, end to end: a real balancer (2 workers) whose pool names `backend.test`,
 * answered by the test's own DNS server (UDP on a free port); backends bound to 127.0.0.1/.2/.3 on one
 * port. Addresses that appear get traffic, addresses that disappear drain without a failed request
 * under keep-alive load, a DNS server that stops leaves the last set serving, lookups are counted; SRV
 * records give ports and weights; a name that never resolved is a start-up warning and 503 until it
 * does; with Redis, one instance resolves and both balance over the same endpoints.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent } from 'node:http'
import https from 'node:https'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { getFreePort, httpRequest, startTestBackend, waitFor, type TestBackend } from '../helpers/index.js'
import { startAdminBalancer, type AdminBalancer } from '../helpers/admin.js'
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js'
import { redisCli, startRedis } from '../helpers/redis.js'
import { makeTestCa, makeTestLeaf } from '../helpers/test-pki.js'

type T = { after: (fn: () => unknown) => void }

async function dnsServer(t: T): Promise<TestDnsServer> {
  const s = await startDnsServer()
  t.after(() => s.stop())
  return s
}

/** One backend per loopback address, all on the same port (a name has one port). */
async function backendsOnOnePort(t: T, hosts: string[]): Promise<{ port: number; list: TestBackend[] }> {
  for (let attempt = 0; ; attempt++) {
    const port = await getFreePort()
    const list: TestBackend[] = []
    try {
      for (const host of hosts) list.push(await startTestBackend({ name: host, host, port }))
      t.after(() => Promise.all(list.map((b) => b.close())))
      return { port, list }
    } catch (err) {
      await Promise.all(list.map((b) => b.close()))
      if (attempt >= 5) throw err
    }
  }
}

async function balancer(t: T, pool: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<AdminBalancer> {
  const lb = await startAdminBalancer({ listen: { host: '127.0.0.1' }, workers: 2, log: { accessLog: false }, pools: { p: pool }, ...extra })
  t.after(() => lb.stop('SIGKILL'))
  return lb
}

async function endpointIds(lb: AdminBalancer): Promise<string[]> {
  const r = await lb.call('GET', '/api/pools/p', { token: null })
  return (JSON.parse(r.body) as { endpoints: Array<{ id: string }> }).endpoints.map((e) => e.id).sort()
}

/** Keeps `n` keep-alive request loops running until stopped; every status is recorded. */
function keepAliveLoad(lb: AdminBalancer, n: number): { statuses: number[]; errors: string[]; stop: () => Promise<void> } {
  const agent = new Agent({ keepAlive: true, maxSockets: n })
  const statuses: number[] = []
  const errors: string[] = []
  let running = true
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      try {
        statuses.push((await httpRequest(`http://127.0.0.1:${lb.port}/`, { agent })).status)
      } catch (err) {
        errors.push((err as Error).message)
      }
    }
  })
  return {
    statuses,
    errors,
    stop: async () => {
      running = false
      await Promise.all(loops)
      agent.destroy()
    },
  }
}

test('backend.test -> .1 and .2: both used; -> .1 and .3: .3 joins within dnsRefresh + a probe, .2 drains with 0 failures; DNS down: the last set serves', async (t) => {
  const dns = await dnsServer(t)
  const { port, list } = await backendsOnOnePort(t, ['127.0.0.1', '127.0.0.2', '127.0.0.3'])
  const [b1, b2, b3] = list as [TestBackend, TestBackend, TestBackend]
  // Requests to .2 take a while, so that some are in flight when its address disappears.
  b2.setScript([{ status: 200, delayMs: 150 }])
  dns.set('backend.test', { a: ['127.0.0.1', '127.0.0.2'], ttl: 1 })
  const lb = await balancer(t, {
    backends: [{ url: `http://backend.test:${port}` }],
    dnsRefresh: '1s',
    dnsResolvers: [dns.address],
    healthCheck: { interval: '500ms' },
  })
  await waitFor(async () => (await endpointIds(lb)).length === 2, { timeoutMs: 10_000, message: 'two endpoints discovered' })
  assert.deepEqual(await endpointIds(lb), [`backend.test@127.0.0.1:${port}`, `backend.test@127.0.0.2:${port}`])

  const load = keepAliveLoad(lb, 6)
  t.after(() => load.stop())
  await waitFor(() => b1.count() > 5 && b2.count() > 5, { timeoutMs: 10_000, message: 'both addresses get traffic' })
  assert.equal(b3.count(), 0)

  dns.set('backend.test', { a: ['127.0.0.1', '127.0.0.3'], ttl: 1 })
  const changedAt = Date.now()
  await waitFor(() => b3.count() > 0, { timeoutMs: 15_000, message: '127.0.0.3 gets traffic' })
  const joinedMs = Date.now() - changedAt
  // dnsRefresh (1 s) + one probe interval (0.5 s), with room for a loaded machine.
  assert.ok(joinedMs < 6_000, `127.0.0.3 got its first request ${joinedMs} ms after the DNS change`)
  console.log(`# new address got traffic ${joinedMs} ms after the DNS answer changed`)
  await waitFor(async () => !(await endpointIds(lb)).includes(`backend.test@127.0.0.2:${port}`), { timeoutMs: 10_000, message: '.2 removed' })
  const b2After = b2.count()
  await new Promise((r) => setTimeout(r, 1500))
  assert.equal(b2.count(), b2After, '127.0.0.2 got new requests after it left the DNS answer')

  await dns.stop()
  const b1Before = b1.count()
  const b3Before = b3.count()
  await new Promise((r) => setTimeout(r, 3000))
  assert.ok(b1.count() > b1Before && b3.count() > b3Before, 'the last known set keeps serving while DNS is down')
  await load.stop()

  assert.deepEqual(load.errors, [], 'no request failed')
  assert.ok(load.statuses.length > 100, `only ${load.statuses.length} requests sent`)
  assert.deepEqual([...new Set(load.statuses)], [200], 'every request succeeded')
  console.log(`# ${load.statuses.length} keep-alive requests, all 200; .1=${b1.count()} .2=${b2.count()} .3=${b3.count()}`)
  const m = await lb.metrics()
  assert.ok(m.sum('lb_dns_lookups_total', { pool: 'p', result: 'success' }) >= 2, 'successful lookups counted')
  assert.ok(m.sum('lb_dns_lookups_total', { pool: 'p', result: 'failure' }) >= 1, 'failed lookups counted')
  assert.deepEqual(await endpointIds(lb), [`backend.test@127.0.0.1:${port}`, `backend.test@127.0.0.3:${port}`])
})

test('a name that never resolved: a start-up warning, 503 for the pool, then traffic once it resolves', async (t) => {
  const dns = await dnsServer(t)
  const { port, list } = await backendsOnOnePort(t, ['127.0.0.1'])
  const lb = await balancer(t, {
    backends: [{ url: `http://later.test:${port}` }],
    dnsRefresh: '1s',
    dnsResolvers: [dns.address],
    healthCheck: { interval: '500ms' },
  })
  await waitFor(() => /DNS lookup of later\.test failed \(ENOTFOUND\).*answers 503/.test(lb.output()), { timeoutMs: 10_000, message: 'start-up warning' })
  const r = await httpRequest(`http://127.0.0.1:${lb.port}/`)
  assert.equal(r.status, 503)
  assert.ok(r.headers['retry-after'] !== undefined)
  dns.set('later.test', { a: ['127.0.0.1'] })
  await waitFor(async () => (await httpRequest(`http://127.0.0.1:${lb.port}/`)).status === 200, { timeoutMs: 15_000, message: '200 once it resolves' })
  assert.ok((list[0]?.count() ?? 0) > 0)
  const m = await lb.metrics()
  assert.ok(m.sum('lb_dns_lookups_total', { pool: 'p', result: 'failure' }) >= 1)
})

test('srv+http:// takes ports and weights from the SRV records', async (t) => {
  const dns = await dnsServer(t)
  const a = await startTestBackend({ name: 'a' })
  const b = await startTestBackend({ name: 'b' })
  t.after(() => Promise.all([a.close(), b.close()]))
  dns.set('_http._tcp.svc.test', { srv: [{ target: 'a.svc.test', port: a.port, weight: 3 }, { target: 'b.svc.test', port: b.port, weight: 1 }] })
  dns.set('a.svc.test', { a: ['127.0.0.1'] })
  dns.set('b.svc.test', { a: ['127.0.0.1'] })
  const lb = await balancer(t, {
    algorithm: 'weighted-round-robin',
    backends: [{ url: 'srv+http://_http._tcp.svc.test' }],
    dnsResolvers: [dns.address],
    healthCheck: { enabled: false },
  })
  await waitFor(async () => (await endpointIds(lb)).length === 2, { timeoutMs: 10_000, message: 'two SRV targets' })
  const pool = JSON.parse((await lb.call('GET', '/api/pools/p', { token: null })).body) as { endpoints: Array<{ id: string; weight: number }> }
  assert.deepEqual(pool.endpoints.map((e) => [e.id, e.weight]).sort(), [[`_http._tcp.svc.test@127.0.0.1:${a.port}`, 3], [`_http._tcp.svc.test@127.0.0.1:${b.port}`, 1]].sort())
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  for (let i = 0; i < 80; i++) assert.equal((await httpRequest(`http://127.0.0.1:${lb.port}/`, { agent })).status, 200)
  // Smooth weighted round robin per worker: 3:1 within a few requests of each worker's rotation.
  assert.ok(a.count() >= 50 && b.count() >= 10, `a=${a.count()} b=${b.count()}`)
  // A discovered endpoint is an endpoint like any other for the operator.
  const drained = await lb.call('POST', `/api/pools/p/backends/${encodeURIComponent(`_http._tcp.svc.test@127.0.0.1:${b.port}`)}/drain`)
  assert.equal(drained.status, 200, drained.body)
  await waitFor(async () => {
    const before = b.count()
    for (let i = 0; i < 10; i++) await httpRequest(`http://127.0.0.1:${lb.port}/`, { agent })
    return b.count() === before
  }, { timeoutMs: 5_000, message: 'the drained SRV endpoint gets no new request' })
})

test('with Redis: one instance resolves, both balance over the same endpoints and follow a change; when it dies the other takes over', async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const dns = await dnsServer(t)
  const { port, list } = await backendsOnOnePort(t, ['127.0.0.1', '127.0.0.2', '127.0.0.3'])
  dns.set('backend.test', { a: ['127.0.0.1', '127.0.0.2'], ttl: 1 })
  const pool = { backends: [{ url: `http://backend.test:${port}` }], dnsRefresh: '1s', dnsResolvers: [dns.address], healthCheck: { enabled: false } }
  const extra = { state: { redis: { url: redis.url } } }
  const [x, y] = await Promise.all([balancer(t, pool, extra), balancer(t, pool, extra)]) as [AdminBalancer, AdminBalancer]
  const two = [`backend.test@127.0.0.1:${port}`, `backend.test@127.0.0.2:${port}`]
  await waitFor(async () => JSON.stringify(await endpointIds(x)) === JSON.stringify(two) && JSON.stringify(await endpointIds(y)) === JSON.stringify(two), { timeoutMs: 10_000, message: 'both instances see .1 and .2' })
  dns.set('backend.test', { a: ['127.0.0.2', '127.0.0.3'], ttl: 1 })
  const next = [`backend.test@127.0.0.2:${port}`, `backend.test@127.0.0.3:${port}`]
  await waitFor(async () => JSON.stringify(await endpointIds(x)) === JSON.stringify(next) && JSON.stringify(await endpointIds(y)) === JSON.stringify(next), { timeoutMs: 10_000, message: 'both instances follow the change' })
  for (const lb of [x, y]) for (let i = 0; i < 10; i++) assert.equal((await httpRequest(`http://127.0.0.1:${lb.port}/`)).status, 200)
  assert.equal(list[0]?.requests.length, 0, '127.0.0.1 left the set before the requests')
  assert.ok((list[2]?.count() ?? 0) > 0)
  const lookups = await Promise.all([x, y].map(async (lb) => (await lb.metrics()).sum('lb_dns_lookups_total', { pool: 'p' })))
  assert.equal(lookups.filter((n) => n > 0).length, 1, `exactly one instance resolves (lookups per instance: ${lookups.join(', ')})`)

  // The resolving instance dies: the other takes the lease over and follows the next change.
  const [resolver, survivor] = (lookups[0] ?? 0) > 0 ? [x, y] : [y, x]
  await resolver.stop('SIGKILL')
  dns.set('backend.test', { a: ['127.0.0.1'], ttl: 1 })
  await waitFor(async () => JSON.stringify(await endpointIds(survivor)) === JSON.stringify([`backend.test@127.0.0.1:${port}`]), { timeoutMs: 15_000, message: 'the survivor resolves after the lease expires' })
  assert.ok((await survivor.metrics()).sum('lb_dns_lookups_total', { pool: 'p', result: 'success' }) > 0)
})

test('https://name: the discovered address is verified against the name (SNI and certificate), for requests and probes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-dns-tls-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await makeTestCa(dir, 'ca')
  // The certificate names the host only: verifying against the address would fail.
  await makeTestLeaf(dir, 'server', 'ca', 'secure.test', 'DNS:secure.test', 'serverAuth')
  const servernames = new Set<string>()
  let probes = 0
  const server = https.createServer({ cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) }, (req, res) => {
    const name = (req.socket as TLSSocket).servername
    if (typeof name === 'string') servernames.add(name)
    if (req.headers['user-agent'] === 'lb-health-check') probes++
    res.end('secure')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  const { port } = server.address() as { port: number }
  const dns = await dnsServer(t)
  dns.set('secure.test', { a: ['127.0.0.1'] })
  const lb = await balancer(t, {
    backends: [{ url: `https://secure.test:${port}` }],
    dnsResolvers: [dns.address],
    upstreamTls: { ca: join(dir, 'ca.crt') },
    healthCheck: { interval: '500ms' },
  })
  await waitFor(async () => (await endpointIds(lb)).length === 1, { timeoutMs: 10_000, message: 'secure.test discovered' })
  const r = await waitFor(async () => {
    const res = await httpRequest(`http://127.0.0.1:${lb.port}/`)
    return res.status === 200 ? res : undefined
  }, { timeoutMs: 10_000, message: '200 through https' })
  assert.equal(r.body, 'secure')
  await waitFor(() => probes >= 2, { timeoutMs: 10_000, message: 'probes over TLS' })
  const m = await lb.metrics()
  assert.equal(m.sum('lb_endpoint_up', { endpoint: `secure.test@127.0.0.1:${port}` }), 1, 'healthy by its probes')
  assert.equal(m.sum('lb_upstream_errors_total', { kind: 'upstream-tls' }), 0)
  assert.deepEqual([...servernames], ['secure.test'])
})

test('reload: discovered endpoints stay across a reload that keeps the name (no 503 under load); a name removed from the file takes its endpoints with it', async (t) => {
  const dns = await dnsServer(t)
  const { port, list } = await backendsOnOnePort(t, ['127.0.0.1', '127.0.0.2'])
  const [b1, b2] = list as [TestBackend, TestBackend]
  dns.set('backend.test', { a: ['127.0.0.1', '127.0.0.2'], ttl: 30 })
  const pool = { backends: [{ url: `http://backend.test:${port}` }], dnsRefresh: '30s', dnsResolvers: [dns.address], healthCheck: { enabled: false } }
  const lb = await balancer(t, pool)
  await waitFor(async () => (await endpointIds(lb)).length === 2, { timeoutMs: 10_000, message: 'two endpoints discovered' })
  const file = (p: Record<string, unknown>): string =>
    JSON.stringify({ listen: { host: '127.0.0.1' }, workers: 2, log: { accessLog: false }, pools: { p }, admin: { host: '127.0.0.1', port: lb.adminPort, token: lb.token } })

  const load = keepAliveLoad(lb, 4)
  t.after(() => load.stop())
  await waitFor(() => b1.count() > 0 && b2.count() > 0, { timeoutMs: 10_000, message: 'traffic on both' })
  // A change of the pool rebuilds it in the workers: its discovered endpoints must come along, with the
  // backend's new weight.
  writeFileSync(lb.configFile, file({ ...pool, backends: [{ url: `http://backend.test:${port}`, weight: 3 }], retries: { attempts: 2 } }))
  assert.equal((await lb.call('POST', '/api/reload')).status, 200)
  const weights = JSON.parse((await lb.call('GET', '/api/pools/p', { token: null })).body) as { endpoints: Array<{ id: string; weight: number }> }
  assert.deepEqual(weights.endpoints.map((e) => [e.id, e.weight]).sort(), [[`backend.test@127.0.0.1:${port}`, 3], [`backend.test@127.0.0.2:${port}`, 3]])
  const after = { b1: b1.count(), b2: b2.count() }
  await waitFor(() => b1.count() > after.b1 + 20 && b2.count() > after.b2 + 20, { timeoutMs: 10_000, message: 'both keep serving after the reload' })
  await load.stop()
  assert.deepEqual(load.errors, [])
  assert.deepEqual([...new Set(load.statuses)], [200], 'no 503 while the reloaded pool waited for DNS')

  writeFileSync(lb.configFile, file({ ...pool, backends: [{ url: b1.url }] }))
  assert.equal((await lb.call('POST', '/api/reload')).status, 200)
  assert.deepEqual(await endpointIds(lb), [`127.0.0.1:${port}`])
  const b2Before = b2.count()
  for (let i = 0; i < 10; i++) assert.equal((await httpRequest(`http://127.0.0.1:${lb.port}/`)).status, 200)
  assert.equal(b2.count(), b2Before)
})

test('with Redis restarted empty: the resolving instance writes its set again, so an instance started afterwards balances over it', async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const dns = await dnsServer(t)
  const { port } = await backendsOnOnePort(t, ['127.0.0.1', '127.0.0.2'])
  dns.set('backend.test', { a: ['127.0.0.1', '127.0.0.2'], ttl: 1 })
  const pool = { backends: [{ url: `http://backend.test:${port}` }], dnsRefresh: '1s', dnsResolvers: [dns.address], healthCheck: { enabled: false } }
  const extra = { state: { redis: { url: redis.url } } }
  const first = await balancer(t, pool, extra)
  const two = JSON.stringify([`backend.test@127.0.0.1:${port}`, `backend.test@127.0.0.2:${port}`])
  await waitFor(async () => JSON.stringify(await endpointIds(first)) === two, { timeoutMs: 10_000, message: 'first instance discovers both' })
  // Restarted empty (no persistence). The DNS answer has not changed: only the comparison with the store
  // brings the set back (without it nothing is written again, and the second instance has no endpoints).
  await redis.restart()
  const stored = (): Promise<string> => redisCli(['-p', String(redis.port), 'HGET', 'lb:values', `discovered:p:backend.test:${port}`]).catch(() => '')
  await waitFor(async () => /127\.0\.0\.2/.test(await stored()), { timeoutMs: 15_000, message: 'the set written again' })
  // The restart also emptied the election: the first instance takes its lease again at its next renewal.
  // Until then a newly started instance may win the election and resolve itself, which is not the claim here.
  const leaseHeld = async (): Promise<boolean> => (await redisCli(['-p', String(redis.port), 'EXISTS', 'lb:lease:resolve:p']).catch(() => '0')).trim() === '1'
  await waitFor(leaseHeld, { timeoutMs: 15_000, message: 'the first instance holds the resolve lease again' })
  const second = await balancer(t, pool, extra)
  await waitFor(async () => JSON.stringify(await endpointIds(second)) === two, { timeoutMs: 10_000, message: 'the later instance uses the set from the store' })
  const lookups = (await second.metrics()).sum('lb_dns_lookups_total', { pool: 'p' })
  assert.equal(lookups, 0, 'the later instance did not resolve itself: it read the set from the store')
})
