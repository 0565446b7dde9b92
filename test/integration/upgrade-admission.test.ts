// Upgrade requests go through the same admission as plain requests (route rate limit, pick, breaker) and
// always give their breaker slot back: when the backend refuses the upgrade, when a tunnel closes (either
// side), when the backend cannot be reached.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { httpGet, openWebSocket, rawRequest, startTestBackend, waitFor } from '../helpers/index.js'
import { poolConfig, startProxy } from '../helpers/in-process.js'
import { startAdminBalancer } from '../helpers/admin.js'

const UPGRADE = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n\r\n`

/** A raw backend that answers every upgrade request with 101 and keeps the tunnel open; counts request heads. */
async function startSwitchingBackend(t: TestContext): Promise<{ url: string; heads: () => number }> {
  let heads = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let buf = ''
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      if (buf.includes('\r\n\r\n')) {
        heads++
        buf = ''
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n\r\n')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, heads: () => heads }
}

test('a route limited to 1/s: of 20 upgrade requests only the allowed one reaches the backend, the rest get 429', async (t) => {
  const backend = await startSwitchingBackend(t)
  const proxy = await startProxy({
    ...poolConfig([backend.url]),
    routes: [{ name: 'ws', match: { pathPrefix: '/' }, pool: 'main', rateLimit: { rate: '1/s', burst: 1, key: 'ip', scope: 'local' } }],
  })
  t.after(() => proxy.close())

  const started = performance.now()
  const answers = await Promise.all(Array.from({ length: 20 }, () => rawRequest(proxy.port, UPGRADE('/chat'), { timeoutMs: 200 })))
  const elapsedMs = performance.now() - started
  const statuses = answers.map((a) => (/^HTTP\/1\.1 (\d{3})/.exec(a.raw)?.[1] ?? 'none'))
  const switched = statuses.filter((s) => s === '101').length
  const limited = answers.filter((a, i) => statuses[i] === '429')
  assert.equal(switched + limited.length, 20, `statuses: ${statuses.join(',')}`)
  // One token in the bucket, one more per second elapsed.
  assert.ok(switched >= 1 && switched <= 1 + Math.floor(elapsedMs / 1000), `${switched} upgrades passed in ${Math.round(elapsedMs)} ms`)
  await waitFor(() => backend.heads() >= switched, { timeoutMs: 5000, message: 'the allowed upgrades reached the backend' })
  assert.equal(backend.heads(), switched, 'only the allowed upgrades reached the backend')
  for (const a of limited) {
    assert.match(a.raw, /\r\nretry-after: \d+\r\n/i)
    assert.match(a.raw, /\r\nratelimit-policy: /i)
    assert.equal(a.closed, true)
  }
})

/** A plain backend with no upgrade support: `/refuse` answers 400, anything else 200 (no 101). */
async function startPlainBackend(t: TestContext): Promise<{ url: string; count: () => number }> {
  let count = 0
  const server = http.createServer((req, res) => {
    count++
    const status = req.url === '/refuse' ? 400 : 200
    res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': 'plain' })
    res.end(status === 400 ? 'no upgrade here' : 'ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, count: () => count }
}

test('maxRequests 3: twenty upgrades the backend refuses (400, and 200 without 101) leave no slot taken; then 20 plain requests all get 200', async (t) => {
  const backend = await startPlainBackend(t)
  const limited = await startProxy({
    ...poolConfig([backend.url]),
    pools: { main: { backends: [{ url: backend.url }], healthCheck: { enabled: false }, retries: { attempts: 1 }, circuitBreaker: { maxRequests: 3 } } },
  })
  t.after(() => limited.close())

  for (let i = 0; i < 20; i++) {
    const path = i % 2 === 0 ? '/refuse' : '/plain'
    const r = await rawRequest(limited.port, UPGRADE(path), { timeoutMs: 100 })
    assert.equal(r.status, i % 2 === 0 ? 400 : 200, `upgrade ${i}: ${r.raw}`)
    assert.doesNotMatch(r.raw, /^HTTP\/1\.1 101/m)
  }
  for (let i = 0; i < 20; i++) {
    const r = await httpGet(`${limited.url}/after-${i}`)
    assert.equal(r.status, 200, `plain request ${i} after the refused upgrades: ${r.status} ${r.body}`)
  }
  assert.equal(backend.count(), 40)
})

test('maxRequests 3: tunnels that open and close (client side and backend side) give their slot back', async (t) => {
  const backend = await startTestBackend({ name: 'a' })
  t.after(() => backend.close())
  const proxy = await startProxy({
    ...poolConfig([backend.url]),
    pools: { main: { backends: [{ url: backend.url }], healthCheck: { enabled: false }, retries: { attempts: 1 }, circuitBreaker: { maxRequests: 3 } } },
  })
  t.after(() => proxy.close())

  for (let round = 0; round < 4; round++) {
    const clients = await Promise.all(Array.from({ length: 3 }, () => openWebSocket(`ws://127.0.0.1:${proxy.port}/ws`)))
    for (const [i, c] of clients.entries()) assert.equal(await c.echo(`r${round} c${i}`), `r${round} c${i}`)
    if (round % 2 === 0) {
      await Promise.all(clients.map((c) => c.close()))
    } else {
      backend.closeAllConnections()
      await Promise.all(clients.map((c) => c.closed))
    }
  }
  const plain = await Promise.all(Array.from({ length: 3 }, (_, i) => waitFor(async () => {
    const r = await httpGet(`${proxy.url}/after-${i}`)
    return r.status === 200 ? r : undefined
  }, { timeoutMs: 5000, message: 'a plain request after the tunnels closed' })))
  for (const r of plain) assert.equal(r.status, 200)
})

test('an upgrade to an unreachable backend gives its slot back: with maxRequests 1 every later upgrade still gets 502, not 503', async (t) => {
  const backend = await startTestBackend({ name: 'b' })
  t.after(() => backend.close())
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
  const proxy = await startProxy({
    ...poolConfig([]),
    pools: {
      main: {
        backends: [{ url: `http://127.0.0.1:${closedPort}` }],
        healthCheck: { enabled: false },
        outlierDetection: { enabled: false },
        retries: { attempts: 1 },
        circuitBreaker: { maxRequests: 1, errorRatePercent: 0 },
      },
    },
  })
  t.after(() => proxy.close())
  for (let i = 0; i < 5; i++) {
    const r = await rawRequest(proxy.port, UPGRADE('/ws'), { timeoutMs: 100 })
    // 502 while the slot is free; a leaked slot would turn it into 503 (backend limits reached).
    assert.equal(r.status, 502, `upgrade ${i}: ${r.raw}`)
  }
})

test('a half-open circuit: a refused upgrade admitted as the trial reports its verdict, so the circuit closes and plain requests flow', async (t) => {
  let fail = true
  const server = http.createServer((req, res) => {
    const status = req.url === '/refuse' ? 400 : fail ? 503 : 200
    res.writeHead(status, { 'content-type': 'text/plain' })
    res.end(String(status))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  const proxy = await startProxy({
    ...poolConfig([url]),
    pools: {
      main: {
        backends: [{ url }],
        healthCheck: { enabled: false },
        outlierDetection: { enabled: false },
        retries: { attempts: 1 },
        circuitBreaker: { errorRatePercent: 50, minRequests: 2, open: '300ms', halfOpenRequests: 1 },
      },
    },
  })
  t.after(() => proxy.close())

  for (let i = 0; i < 2; i++) assert.equal((await httpGet(`${proxy.url}/x`)).status, 503)
  fail = false
  // Open: answered by the balancer at once. Once half-open, the upgrade is the one trial let through.
  await waitFor(async () => (await rawRequest(proxy.port, UPGRADE('/refuse'), { timeoutMs: 100 })).status === 400, { timeoutMs: 5000, message: 'the upgrade admitted as the half-open trial' })
  for (let i = 0; i < 5; i++) {
    const r = await httpGet(`${proxy.url}/after-${i}`)
    assert.equal(r.status, 200, `plain request ${i} after the refused trial upgrade: ${r.status} ${r.body}`)
  }
})

/** An upgrade request carrying `extra` header lines (each ending in CRLF). */
const UPGRADE_WITH = (extra: string): string => `GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n${extra}\r\n`

test('sticky sessions hold for upgrades as for plain requests: the cookie set on the first 101 pins later upgrades; a sticky header hashes them to one endpoint', async (t) => {
  const a = await startSwitchingBackend(t)
  const b = await startSwitchingBackend(t)
  const cookieProxy = await startProxy({ ...poolConfig([a.url, b.url]), pools: { main: { backends: [{ url: a.url }, { url: b.url }], healthCheck: { enabled: false }, stickySession: true } } })
  t.after(() => cookieProxy.close())
  const first = await rawRequest(cookieProxy.port, UPGRADE_WITH(''), { timeoutMs: 200 })
  assert.match(first.raw, /^HTTP\/1\.1 101 /)
  const cookie = /\r\nset-cookie: (lb_sticky=[^;\r]+)/i.exec(first.raw)?.[1]
  assert.ok(cookie !== undefined, `the first 101 pins the client: ${first.raw}`)
  const pinned = a.heads() === 1 ? a : b
  for (let i = 0; i < 10; i++) {
    const r = await rawRequest(cookieProxy.port, UPGRADE_WITH(`Cookie: ${cookie}\r\n`), { timeoutMs: 200 })
    assert.match(r.raw, /^HTTP\/1\.1 101 /)
    assert.doesNotMatch(r.raw, /\r\nset-cookie:/i, 'a valid pin is not set again')
  }
  await waitFor(() => a.heads() + b.heads() === 11, { timeoutMs: 5000, message: 'every upgrade reached a backend' })
  assert.equal(pinned.heads(), 11, `round robin would alternate; the pin keeps every upgrade on one endpoint (a ${a.heads()}, b ${b.heads()})`)

  const c = await startSwitchingBackend(t)
  const d = await startSwitchingBackend(t)
  const headerProxy = await startProxy({ ...poolConfig([]), pools: { main: { backends: [{ url: c.url }, { url: d.url }], healthCheck: { enabled: false }, stickySession: { header: 'X-Session' } } } })
  t.after(() => headerProxy.close())
  for (let i = 0; i < 10; i++) {
    const r = await rawRequest(headerProxy.port, UPGRADE_WITH('X-Session: user-7\r\n'), { timeoutMs: 200 })
    assert.match(r.raw, /^HTTP\/1\.1 101 /)
  }
  await waitFor(() => c.heads() + d.heads() === 10, { timeoutMs: 5000, message: 'every upgrade reached a backend' })
  assert.ok(c.heads() === 10 || d.heads() === 10, `one session, one endpoint (c ${c.heads()}, d ${d.heads()})`)
})

test('an upgrade to a closed port is counted like a plain try: lb_upstream_errors_total{kind="connect"} +1 per refused connect', async (t) => {
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
  // A real process: the metrics are installed in a cluster worker, as in production.
  const lb = await startAdminBalancer({
    workers: 1,
    log: { accessLog: false },
    pools: {
      main: {
        backends: [{ url: `http://127.0.0.1:${closedPort}` }],
        healthCheck: { enabled: false },
        outlierDetection: { enabled: false },
        retries: { attempts: 1 },
        circuitBreaker: { errorRatePercent: 0 },
      },
    },
  })
  t.after(() => lb.stop())
  const connectErrors = async (): Promise<number> => (await lb.metrics()).sum('lb_upstream_errors_total', { kind: 'connect', pool: 'main' })
  // Polled: the first scrapes after start may find the worker's metrics not in yet.
  assert.equal(await waitFor(async () => ({ n: await connectErrors() }), { timeoutMs: 5000, message: 'a first scrape' }).then((x) => x.n), 0)
  for (let i = 1; i <= 2; i++) {
    const r = await rawRequest(lb.port, UPGRADE('/ws'), { timeoutMs: 500 })
    assert.equal(r.status, 502, `upgrade ${i}: ${r.raw}`)
    await waitFor(async () => (await connectErrors()) >= i, { timeoutMs: 5000, message: `upgrade ${i} counted as a connect error` })
    assert.equal(await connectErrors(), i, 'one refused connect, one count')
  }
  assert.equal((await lb.metrics()).sum('lb_upstream_errors_total', { pool: 'main' }), 2, 'no other kind counted for the same failures')
})

test('an upgrade whose first endpoint refuses the connection is retried by the retry policy: 101 from the other, counted in lb_retries_total{reason="connect-failure"}', async (t) => {
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
  const good = await startSwitchingBackend(t)
  const lb = await startAdminBalancer({
    workers: 1,
    log: { accessLog: false },
    pools: {
      main: {
        backends: [{ url: `http://127.0.0.1:${closedPort}` }, { url: good.url }],
        algorithm: 'round-robin',
        healthCheck: { enabled: false },
        outlierDetection: { enabled: false },
        retries: { attempts: 2 },
        circuitBreaker: { errorRatePercent: 0 },
      },
    },
  })
  t.after(() => lb.stop())
  for (let i = 0; i < 4; i++) {
    const r = await rawRequest(lb.port, UPGRADE('/ws'), { timeoutMs: 300 })
    assert.equal(r.status, 101, `upgrade ${i}: ${r.raw}`)
  }
  assert.equal(good.heads(), 4)
  // Round robin over two endpoints: the closed one came first for some of the four (at least one).
  const m = await waitFor(async () => {
    const x = await lb.metrics()
    return x.sum('lb_upstream_errors_total', { kind: 'connect', pool: 'main' }) >= 1 ? x : undefined
  }, { timeoutMs: 5000, message: 'the refused connects in the metrics' })
  const refused = m.sum('lb_upstream_errors_total', { kind: 'connect', pool: 'main' })
  assert.equal(m.sum('lb_retries_total', { reason: 'connect-failure', pool: 'main' }), refused, 'one retry per refused connect')
  assert.equal(m.sum('lb_retries_total', { pool: 'main' }), refused, 'no other retry reason')
})
