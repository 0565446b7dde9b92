/**
 * Sticky sessions on real balancer processes (two workers each) and real backends: a cookie pins a
 * client to one endpoint under any algorithm; a killed endpoint moves the session (with a new cookie);
 * a drained one keeps its sessions and takes no new ones; a removed one moves them on; two instances
 * sharing the secret honour each other's cookies; `{ header }` pins by a request header, no cookie.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startAdminBalancer } from '../helpers/admin.js'
import { freePort, startBalancerProcess } from '../helpers/balancer-process.js'
import { httpGet, startTestBackend, waitFor, type HttpResult, type TestBackend } from '../helpers/index.js'

async function backends(t: TestContext, names: string[]): Promise<TestBackend[]> {
  const list = await Promise.all(names.map((name) => startTestBackend({ name })))
  t.after(() => Promise.all(list.map((b) => b.close())))
  return list
}

function poolOf(list: TestBackend[], sticky: unknown, algorithm = 'round-robin'): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1' },
    workers: 2,
    log: { accessLog: false },
    pools: { web: { algorithm, backends: list.map((b) => ({ id: b.name, url: b.url })), healthCheck: { enabled: false }, stickySession: sticky } },
  }
}

/** The `name=value` part of the response's Set-Cookie for `name`, or undefined. */
function cookieOf(r: HttpResult, name = 'lb_sticky'): string | undefined {
  for (const line of r.headers['set-cookie'] ?? []) if (line.startsWith(`${name}=`)) return line.split(';')[0]
  return undefined
}

const backendOf = (r: HttpResult): string => String(r.headers['x-backend'])

for (const algorithm of ['round-robin', 'p2c', 'least-connections']) {
  test(`${algorithm}: 50 requests with the cookie land on one endpoint; the cookie is opaque, HttpOnly, SameSite=Lax`, async (t) => {
    const list = await backends(t, ['a', 'b', 'c'])
    const lb = await startBalancerProcess({ config: poolOf(list, true, algorithm) })
    t.after(() => lb.stop())
    const base = `http://127.0.0.1:${lb.port}`
    const first = await httpGet(`${base}/`)
    assert.equal(first.status, 200)
    const line = (first.headers['set-cookie'] ?? [])[0] ?? ''
    assert.match(line, /^lb_sticky=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/)
    for (const b of list) assert.ok(!line.includes(String(b.port)) && !line.includes('127.0.0.1'), 'the cookie never carries the address')
    const cookie = cookieOf(first) ?? ''
    const seen = new Set<string>()
    for (let i = 0; i < 50; i++) {
      const r = await httpGet(`${base}/`, { cookie: `other=1; ${cookie}` })
      assert.equal(r.status, 200)
      assert.equal(cookieOf(r), undefined, 'a valid cookie is not set again')
      seen.add(backendOf(r))
    }
    assert.deepEqual([...seen], [backendOf(first)])
    // Without the cookie the algorithm spreads clients over the pool.
    const spread = new Set<string>()
    for (let i = 0; i < 12; i++) spread.add(backendOf(await httpGet(`${base}/`)))
    assert.ok(spread.size > 1)
  })
}

test('a pinned endpoint that dies: the next request succeeds elsewhere with a new cookie; a forged cookie is ignored', async (t) => {
  const list = await backends(t, ['a', 'b', 'c'])
  const lb = await startBalancerProcess({ config: poolOf(list, { cookie: 'sid', ttl: '10m' }) })
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`
  const first = await httpGet(`${base}/`)
  const cookie = cookieOf(first, 'sid') ?? ''
  assert.match(first.headers['set-cookie']?.[0] ?? '', /Max-Age=600;/)
  const pinned = list.find((b) => b.name === backendOf(first)) as TestBackend
  await pinned.close()
  const moved = await httpGet(`${base}/`, { cookie })
  assert.equal(moved.status, 200)
  assert.notEqual(backendOf(moved), pinned.name)
  const renewed = cookieOf(moved, 'sid')
  assert.ok(renewed !== undefined && renewed !== cookie, 'a new cookie names the new endpoint')
  for (let i = 0; i < 10; i++) assert.equal(backendOf(await httpGet(`${base}/`, { cookie: renewed })), backendOf(moved))
  const forged = await httpGet(`${base}/`, { cookie: 'sid=AAAAAAAAAAAAAAAAAAAAAA' })
  assert.equal(forged.status, 200)
  assert.ok(cookieOf(forged, 'sid') !== undefined, 'an unknown tag gets a real cookie')
})

test('drain through the admin API keeps pinned sessions and takes no new ones; removal moves them on', async (t) => {
  const list = await backends(t, ['a', 'b', 'c'])
  const lb = await startAdminBalancer(poolOf(list, true))
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`
  const first = await httpGet(`${base}/`)
  const cookie = cookieOf(first) ?? ''
  const pinned = backendOf(first)
  assert.equal((await lb.call('POST', `/api/pools/web/backends/${pinned}/drain`)).status, 200)
  // Every worker learns the drain: new sessions stop reaching the endpoint.
  await waitFor(async () => {
    for (let i = 0; i < 8; i++) if (backendOf(await httpGet(`${base}/`)) === pinned) return false
    return true
  }, { message: 'new sessions avoid the drained endpoint' })
  for (let i = 0; i < 30; i++) {
    const fresh = await httpGet(`${base}/`)
    assert.notEqual(backendOf(fresh), pinned, 'a new session never starts on a drained endpoint')
    const kept = await httpGet(`${base}/`, { cookie })
    assert.equal(backendOf(kept), pinned, 'a pinned session keeps its drained endpoint')
    assert.equal(cookieOf(kept), undefined)
  }
  assert.equal((await lb.call('DELETE', `/api/pools/web/backends/${pinned}`)).status, 200)
  const moved = await waitFor(async () => {
    const r = await httpGet(`${base}/`, { cookie })
    return backendOf(r) !== pinned ? r : undefined
  }, { message: 'the session moves off the removed endpoint' })
  assert.equal(moved.status, 200)
  assert.ok(cookieOf(moved) !== undefined && cookieOf(moved) !== cookie)
})

test('two instances sharing a secret honour each other\'s cookies', async (t) => {
  const list = await backends(t, ['a', 'b', 'c'])
  const config = poolOf(list, { secret: 'shared-secret-for-tests-0123' })
  const one = await startBalancerProcess({ config })
  t.after(() => one.stop())
  const two = await startBalancerProcess({ config })
  t.after(() => two.stop())
  const seen = new Set<string>()
  for (let i = 0; i < 3; i++) {
    // Three sessions from instance one (round robin: three endpoints), each replayed on instance two.
    const first = await httpGet(`http://127.0.0.1:${one.port}/`)
    const cookie = cookieOf(first) ?? ''
    seen.add(backendOf(first))
    for (let k = 0; k < 10; k++) {
      const r = await httpGet(`http://127.0.0.1:${two.port}/`, { cookie })
      assert.equal(backendOf(r), backendOf(first))
      assert.equal(cookieOf(r), undefined)
    }
  }
  assert.ok(seen.size > 1)
})

test('stickySession { header }: the same header value reaches the same endpoint, no cookie', async (t) => {
  const list = await backends(t, ['a', 'b', 'c'])
  const lb = await startBalancerProcess({ config: poolOf(list, { header: 'X-Session' }) })
  t.after(() => lb.stop())
  const base = `http://127.0.0.1:${lb.port}`
  const owners = new Set<string>()
  for (let s = 0; s < 12; s++) {
    const seen = new Set<string>()
    for (let i = 0; i < 8; i++) {
      const r = await httpGet(`${base}/`, { 'x-session': `user-${s}` })
      assert.equal(r.status, 200)
      assert.equal(r.headers['set-cookie'], undefined)
      seen.add(backendOf(r))
    }
    assert.equal(seen.size, 1, `session user-${s} stays on one endpoint`)
    owners.add([...seen][0] as string)
  }
  assert.ok(owners.size > 1, 'sessions spread over the pool')
})

test('over the TLS listener the cookie is Secure; over plain HTTP it is not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb-sticky-tls-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=lb.test', '-addext', 'subjectAltName=DNS:lb.test', '-keyout', key, '-out', cert])
  const list = await backends(t, ['a', 'b'])
  const tlsPort = await freePort()
  const lb = await startBalancerProcess({ config: { ...poolOf(list, true), workers: 1, tls: { host: '127.0.0.1', port: tlsPort, certificates: [{ cert, key }] } } })
  t.after(() => lb.stop())
  const secure = await new Promise<string[]>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port: tlsPort, path: '/', servername: 'lb.test', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.headers['set-cookie'] ?? []))
    })
    req.on('error', reject)
  })
  assert.match(secure[0] ?? '', /^lb_sticky=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/)
  const plain = await httpGet(`http://127.0.0.1:${lb.port}/`)
  assert.ok(!(plain.headers['set-cookie']?.[0] ?? '').includes('Secure'))
})
